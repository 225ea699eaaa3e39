"""Terminal output, above the analysis and below the API: nothing here decides anything, it shows.

``consoles`` makes the rich Consoles (the one place), ``progress`` the live view of a running study
(stderr), ``trials`` the trial table and one trial in full (stdout: table, CSV, JSON), ``findings``
importances and retrained seeds, ``text`` the formatting they share.
"""

from tuner._aliases import package_getattr

__getattr__ = package_getattr(__name__)  # names of the old ``tuner.display`` module
