"""The Optuna study: storage, creation and resumption, samplers and pruners, the objective.

``storage`` opens storages and creates or resumes studies; ``records`` is every attribute `tune` writes
into a study and reads back (names, failure reasons); ``samplers`` builds samplers and pruners by name;
``objective`` says which metric judges a trial; ``heartbeat`` keeps each study's storage for heartbeats
and stale trials; ``best_config`` writes best_config.json; ``folders`` and ``sqlite_files`` look after the
files next to a study.
"""

from tuner._aliases import package_getattr

__getattr__ = package_getattr(__name__)  # names of the old ``tuner.study`` module
