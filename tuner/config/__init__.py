"""Everything Jsonnet: render configs and search spaces, and check them before a study starts.

``jsonnet_engine`` / ``jsonnet_server`` render in a bounded child process; ``snapshot`` captures a
config and its imports and renders trial configs from it; ``sources`` reads configs and spaces given
as paths, text or data; ``preflight`` checks a config against a space; ``study_file`` reads study-config
files; ``init_space`` guesses a search space from a config.
"""

from tuner._aliases import package_getattr

__getattr__ = package_getattr(__name__)  # names of the old ``tuner.config`` module
