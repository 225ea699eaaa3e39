"""Running trials: the runner, one trial's life, launching processes, slots, budget and recovery.

``runner`` fills free slots and records outcomes, ``asking`` asks Optuna for trials and prepares them,
``signals`` turns Ctrl-C and SIGTERM into a graceful stop; ``trial`` is one trial from sampled values to
outcome; ``launch`` / ``warm`` / ``worker`` / ``zygote`` start its process (cold, or forked from a warm
worker, itself forked from one process that imported torch once); ``slots``, ``gpus`` and ``gpu_watch``
say where it runs (groups of GPUs, ``--gpus free``); ``budget`` when the study stops; ``retries`` resumes
interrupted trials and retries out-of-memory ones alone; ``accounting`` records GPU time, artifacts and
what ``--keep-checkpoints`` deletes; ``recovery`` ends trials left behind by a `tune` that died, and
``reaper`` those of a `tune` killed outright; ``descendants`` finds a trial's processes;
``trainer_check`` tries the built-in trainer before the study starts.
"""

from tuner._aliases import package_getattr

__getattr__ = package_getattr(__name__)  # names of the old ``tuner.trials`` module
