"""Running trials: the runner, one trial's life, launching processes, slots, budget and recovery.

``runner`` fills free slots and records outcomes, ``asking`` asks Optuna for trials and prepares them,
``signals`` turns Ctrl-C and SIGTERM into a graceful stop; ``trial`` is one trial from sampled values to
outcome; ``launch`` / ``warm`` / ``worker`` start its process (cold, or forked from a warm worker);
``slots`` and ``gpus`` say where it runs; ``budget`` when the study stops; ``recovery`` ends trials
left behind by a `tune` that died; ``descendants`` finds a trial's processes; ``trainer_check`` tries
the built-in trainer before the study starts.
"""

from tuner._aliases import package_getattr

__getattr__ = package_getattr(__name__)  # names of the old ``tuner.trials`` module
