"""``--terminator``: Optuna's Terminator, judged in a background thread as trials complete.

Its regret bound is a Gaussian-process fit over the complete trials: a second or more each time, and
the error it is compared to (Optuna's ``MedianErrorEvaluator``) costs 20 such fits once it has its first
30 trials. The runner must not wait for that between trials, so :class:`TerminatorWatch` judges in a
thread of its own (Optuna's storages serve threads, as ``study.optimize(n_jobs=...)`` does) and the runner
picks the answer up when it is there. What the fits log or warn stays off the console
(:mod:`tuner.trials.thread_hush`).

The thread never outlives the run: its owner calls :meth:`TerminatorWatch.close`, which stops a judgement
in progress before its next fit (Optuna offers no way to stop one fit) and waits for it. An interpreter
that shut down around a live thread inside torch's C++ code would abort ("terminate called without an
active exception", exit status 134); the thread is not a daemon, so even an unclosed watch is waited for.
"""

from __future__ import annotations

import threading
import warnings
from contextlib import ExitStack
from typing import TYPE_CHECKING

from tuner.trials.thread_hush import hushed

if TYPE_CHECKING:
    import optuna

# Optuna's Terminator does not judge before this many complete trials (its own default).
TERMINATOR_MIN_TRIALS = 20
THREAD_NAME = "tune-terminator"
Answer = tuple[str | None, str]  # (why to stop or None, the figures for the live view)


class TerminatorWatch:
    """One judgement at a time in the background; a request while one runs is served after it.

    Call :meth:`close` when the run ends (in a ``finally``).
    """

    def __init__(self, seed: int | None = None) -> None:
        self._closed = threading.Event()
        self._terminator = _Terminator(seed, cancelled=self._closed)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self._answer: Answer | None = None
        self._hush = ExitStack()
        self._hush.enter_context(hushed(THREAD_NAME))

    def request(self, study: optuna.Study, *, wait: bool = False) -> None:
        """Judge ``study`` (now, if ``wait``; else in the background, after any judgement running)."""
        if self._thread is not None and self._thread.is_alive():
            self._again = True
            return
        self._start(study)
        if wait and self._thread is not None:
            try:
                self._thread.join()
            except BaseException:  # Ctrl-C while waiting: the run ends here, and so does the judgement
                self.close()
                raise

    def take(self, study: optuna.Study) -> Answer | None:
        """The answer that came since the last call, if any; starts a request that waited."""
        with self._lock:
            answer, self._answer = self._answer, None
        if self._again and (self._thread is None or not self._thread.is_alive()):
            self._start(study)
        return answer

    def close(self) -> None:
        """Stop a judgement in progress at its next fit and wait for it; start none after. Idempotent.

        The wait is at most one Gaussian-process fit (seconds); Ctrl-C ends it early, and the interpreter
        then waits for the fit before it exits.
        """
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        self._hush.close()

    def _start(self, study: optuna.Study) -> None:
        self._again = False
        if self._closed.is_set():
            return
        self._thread = threading.Thread(target=self._judge, args=(study,), name=THREAD_NAME)
        self._thread.start()

    def _judge(self, study: optuna.Study) -> None:
        answer = self._terminator.judge(study)
        if answer is not None:
            with self._lock:
                self._answer = answer


class _Terminator:
    """Optuna's Terminator with the regret bound as the room left for improvement and, since tune's trials
    report no cross-validation scores, Optuna's ``MedianErrorEvaluator`` as the error it is compared to.

    ``Terminator.should_terminate`` does not return the two figures it compares; the evaluators passed to
    it keep them, so that the live view can show them. They also end a judgement before its next fit once
    ``cancelled`` is set.
    """

    def __init__(self, seed: int | None, *, cancelled: threading.Event) -> None:
        import optuna
        from optuna.terminator import MedianErrorEvaluator, RegretBoundEvaluator, Terminator

        with warnings.catch_warnings():  # in the owner's thread, before the watch starts one of its own
            # optuna.terminator is deprecated in Optuna 5 (to leave for OptunaHub in 6) and partly experimental.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            regret = _Recorded(RegretBoundEvaluator(seed=seed), cancelled)
            # The median of 20 regret bounds: each of those fits is a point where a judgement can end.
            error = _Recorded(MedianErrorEvaluator(_Recorded(regret.evaluator, cancelled)), cancelled)
            self.regret, self.error = regret, error
            self.terminator = Terminator(
                improvement_evaluator=regret, error_evaluator=error, min_n_trials=TERMINATOR_MIN_TRIALS
            )

    def judge(self, study: optuna.Study) -> Answer | None:
        """(why to stop or None, the figures for the live view); None when cancelled on the way."""
        self.regret.value = self.error.value = None
        try:
            stop = self.terminator.should_terminate(study)
        except _Cancelled:
            return None
        except Exception as error:  # noqa: BLE001 - the GP fit can fail on odd spaces; the study goes on
            return None, f"terminator: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if self.regret.value is None:
            return None, f"terminator: waits for {TERMINATOR_MIN_TRIALS} complete trials"
        regret, error = self.regret.value, self.error.value
        shown = f"regret bound {regret:.3g} vs error {_show_error(error)}"
        if not stop:
            return None, shown
        return (
            f"--terminator: the regret bound {regret:.3g} fell below the error {error:.3g} (Optuna's Terminator)",
            shown,
        )


def _show_error(error: float | None) -> str:
    """MedianErrorEvaluator answers a tiny negative number until it has its 30 initial trials."""
    return "(after 30 complete trials)" if error is None or error < 0 else f"{error:.3g}"


class _Cancelled(Exception):
    """The watch closed during a judgement; raised through Optuna's code to end it early."""


class _Recorded:
    """An Optuna evaluator that keeps the last value it returned, and evaluates nothing once ``cancelled``."""

    def __init__(self, evaluator: object, cancelled: threading.Event) -> None:
        self.evaluator = evaluator
        self.cancelled = cancelled
        self.value: float | None = None

    def evaluate(self, trials: list[optuna.trial.FrozenTrial], study_direction: optuna.study.StudyDirection) -> float:
        if self.cancelled.is_set():
            raise _Cancelled
        self.value = float(self.evaluator.evaluate(trials, study_direction))  # type: ignore[attr-defined]
        return self.value
