"""New trials for the runner: asked from Optuna within the study's --n-trials, sampled and rendered.

Several `tune` processes may fill one study: a trial asked beyond its ``n_trials`` (others
asked at the same moment) is handed back uncounted. A trial that tune fails to prepare is
ended as not run, so that it neither counts nor stays RUNNING.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.config.snapshot import ConfigSnapshot
from tuner.errors import OutputError, TrialSetupError, TunerError
from tuner.space.parameters import SearchSpace
from tuner.study.constraints import record_constraints
from tuner.study.objective import Objective
from tuner.study.records import (
    ATTR_REASON,
    ATTR_WARM_START_FROM,
    NOT_COUNTED_REASONS,
    REASON_NOT_LAUNCHED,
    REASON_NOT_SAMPLED,
    REASON_NOT_WRITTEN,
    REASON_SETUP_FAILED,
    REASON_SURPLUS,
    REASON_TAKEN_OVER,
    TrialOutcome,
    mark_not_run,
    queue_retry,
    record_launch,
    record_outcome,
    retry_of,
)
from tuner.trials.budget import Budget
from tuner.trials.trial import TrialRun

if TYPE_CHECKING:
    import optuna


def study_full_reason(n_trials: int) -> str:
    return f"the study has its {n_trials} trial{'' if n_trials == 1 else 's'}"


class TrialSource:
    """Asks, samples and renders one study's trials, and keeps count of those that count."""

    def __init__(
        self,
        study: optuna.Study,
        space: SearchSpace,
        snapshot: ConfigSnapshot,
        objective: Objective,
        serialization_dir: Path,
        identity: Mapping[str, Any],
    ) -> None:
        self.study = study
        self.space = space
        self.snapshot = snapshot
        self.objective = objective
        self.serialization_dir = serialization_dir
        self.identity = identity  # this tune process, in every launch record
        self.known_count = 0  # trials counting towards --n-trials, as last seen

    def counted_trials(self, before: int | None = None) -> int:
        """Trials that count towards --n-trials (numbered below ``before``, if given).

        All count but those still queued, those interrupted, orphaned or surplus, and warm-started ones.
        """
        import optuna

        states = (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
            optuna.trial.TrialState.RUNNING,
        )
        trials = self.study.get_trials(deepcopy=False, states=states)
        return sum(
            1
            for trial in trials
            if trial.user_attrs.get(ATTR_REASON) not in NOT_COUNTED_REASONS
            and ATTR_WARM_START_FROM not in trial.user_attrs  # copied by --warm-start-from, not run here
            and (before is None or trial.number < before)
        )

    def exhausted_reason(self, budget: Budget) -> str | None:
        """Why no new trial should be asked: the study has its trials, or the grid is done."""
        if budget.n_trials is not None and self._study_full(budget.n_trials):
            return study_full_reason(budget.n_trials)
        is_exhausted = getattr(self.study.sampler, "is_exhausted", None)
        if is_exhausted is not None and is_exhausted(self.study):
            return "every point of the grid was tried"
        return None

    def ask_run(self, budget: Budget, asked: optuna.Trial | None = None) -> TrialRun | None:
        """A new trial with its sampled parameters; None if other processes filled the study first.

        ``asked``: a trial :meth:`ask_ahead` asked earlier, sampled now.
        """
        fresh = asked is None
        if fresh:
            asked = self._ask_within(budget)
            if asked is None:
                return None
        try:
            params = self.space.suggest(asked)
        except Exception as error:
            self.abandon(asked, f"{type(error).__name__}: {error}")
            if isinstance(error, TunerError):
                raise
            raise self._sampling_error(asked.number, error) from None
        run = self._trial_run(asked, params)
        if fresh:
            run.record_owner()
        return run

    def ask_ahead(self, budget: Budget) -> optuna.Trial | None:
        """Ask the next trial while the last one runs, its owner recorded; :meth:`ask_run` samples it once that
        one's outcome is told. Only for samplers that read nothing of the study as a trial is asked (see
        :mod:`tuner.trials.ahead`): they then sample what they would have sampled asking later."""
        trial = self._ask_within(budget)
        if trial is not None:
            directory = self.serialization_dir / f"trial_{trial.number}"
            record_launch(trial, {"directory": str(directory), **self.identity})
        return trial

    def hand_back_asked(self, trial: optuna.Trial) -> None:
        """A trial asked ahead that was never sampled: recorded as not run (it does not count); a queued
        trial (a retry, an enqueued point) it took from the queue is queued again."""
        import optuna

        mark_not_run(trial, REASON_NOT_SAMPLED)
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self._queue_taken_point(self.study.get_trials(deepcopy=False)[trial.number])

    def _queue_taken_point(self, given_back: optuna.trial.FrozenTrial) -> None:
        """The queued point (an ``--enqueue`` point, a retry) that a trial given back unrun had taken: queued again."""
        point = given_back.system_attrs.get("fixed_params")
        retry = retry_of(given_back.user_attrs)
        if point and retry is None:
            self.study.enqueue_trial(point, skip_if_exists=False)
        elif point:
            queue_retry(self.study, point, given_back.intermediate_values, retry)

    def _ask_within(self, budget: Budget) -> optuna.Trial | None:
        """``study.ask()`` within ``--n-trials``; None (the trial given back) when other processes filled it."""
        import optuna

        trial = self._ask()
        try:
            if budget.n_trials is not None and not self._claim_place(trial, budget.n_trials):
                # Other processes asked at the same moment and the study is full: give this one back.
                mark_not_run(trial, REASON_SURPLUS)
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return None
        except Exception as error:
            self.abandon(trial, f"{type(error).__name__}: {error}")
            raise
        return trial

    def _trial_run(self, trial: optuna.Trial, params: Mapping[str, Any]) -> TrialRun:
        """The run of a new trial in ``trial_<number>``; a retry goes back to the folder of its first attempt
        (where that folder is here: another host's may not be), with the intermediate values the earlier
        attempts reported (which Optuna keeps with the queued trial)."""
        directory = self.serialization_dir / f"trial_{trial.number}"
        retry = retry_of(trial.user_attrs)
        if retry is None:
            return TrialRun(trial, params, directory, self.objective, self.identity)
        inherited = self.study.get_trials(deepcopy=False)[trial.number].intermediate_values
        if retry.get("directory") and Path(retry["directory"]).is_dir():
            directory = Path(retry["directory"])
        return TrialRun(trial, params, directory, self.objective, self.identity, retry=retry, inherited=inherited)

    def prepare(self, run: TrialRun) -> bool:
        """Render ``run``'s config into its folder (see :meth:`TrialRun.prepare`).

        A folder that cannot be written stops the run: the trial is recorded as not run
        (it does not count) and its parameters are queued again for the next run.
        """
        import optuna

        try:
            return run.prepare(self.snapshot)
        except OutputError:
            mark_not_run(run.trial, REASON_NOT_WRITTEN)
            self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
            self._queue_again(run)
            raise

    def _queue_again(self, run: TrialRun) -> None:
        """Queue an unrun trial's parameters again; a retry keeps its attempt, folder and intermediate values."""
        if run.retry is None:
            self.study.enqueue_trial(run.params, skip_if_exists=False)
        else:
            queue_retry(self.study, run.params, run.reported, run.retry)

    def hand_back(self, run: TrialRun) -> None:
        """A prepared trial that never got a slot: recorded as not run (it does not count), its folder removed.

        A retry keeps its folder (the checkpoint of its earlier attempts) and is queued again; so is an
        enqueued point (``--enqueue``) it had taken from the queue.
        """
        import optuna

        mark_not_run(run.trial, REASON_NOT_LAUNCHED)
        self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
        if run.retry is None:
            shutil.rmtree(run.directory, ignore_errors=True)
            self._queue_taken_point(self.study.get_trials(deepcopy=False)[run.number])
        else:
            self._queue_again(run)

    def tell(
        self,
        run: TrialRun,
        outcome: TrialOutcome,
        before_tell: Callable[[TrialRun, TrialOutcome], None] | None = None,
    ) -> optuna.trial.FrozenTrial | None:
        """Store the outcome (``before_tell`` adds its records last) and tell Optuna; None when another
        process finished the trial meanwhile."""
        import optuna

        if outcome.reason == REASON_TAKEN_OVER:
            return None
        try:
            record_outcome(run.trial, outcome, run.log_tail() if outcome.state == "FAIL" else None)
            if before_tell is not None:
                before_tell(run, outcome)
            if outcome.violations:
                record_constraints(run.trial, outcome.violations)
            values = (outcome.values or outcome.value) if outcome.state == "COMPLETE" else None
            return self.study.tell(run.trial, values, state=optuna.trial.TrialState[outcome.state])
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
            # Optuna raises these for a trial finished by someone else, and ValueError for other reasons too.
            if not self.study.get_trials(deepcopy=False)[run.number].state.is_finished():
                raise
            return None

    def abandon(self, trial: optuna.Trial, error: str) -> None:
        """End a trial that tune failed to prepare or start: FAIL, not counted, the error kept."""
        import optuna

        try:
            mark_not_run(trial, REASON_SETUP_FAILED, log_tail=error)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            pass  # finished already

    def _ask(self) -> optuna.Trial:
        """``study.ask()``; a sampler that fails here leaves a trial this process cannot name,
        which the stale-trial recovery ends once it is older than the heartbeat's grace period."""
        try:
            return self.study.ask()
        except Exception as error:  # noqa: BLE001 - samplers raise anything; it becomes one line
            raise self._sampling_error(None, error) from None

    def _sampling_error(self, number: int | None, error: Exception) -> TrialSetupError:
        which = "a new trial" if number is None else f"trial {number}"
        first_line = (str(error).strip().splitlines() or [""])[0]
        return TrialSetupError(
            f"the sampler {type(self.study.sampler).__name__} failed on {which}: {type(error).__name__}: {first_line}"
        )

    def _study_full(self, n_trials: int) -> bool:
        """Whether the study has its trials. The count known from this process's last claim
        answers while it is below ``n_trials`` (the claim after asking is authoritative);
        only then is the storage asked, which saves a query per trial."""
        if self.known_count < n_trials:
            return False
        self.known_count = self.counted_trials()
        return self.known_count >= n_trials

    def _claim_place(self, trial: optuna.Trial, n_trials: int) -> bool:
        """Whether ``trial`` is within the study's ``n_trials``: trials numbered before it decide.

        Below number ``n_trials`` fewer than ``n_trials`` trials come before it, so only the
        study's last trials need the query.
        """
        if trial.number < n_trials:
            self.known_count += 1  # an estimate; _study_full asks the storage once it reaches n_trials
            return True
        before = self.counted_trials(before=trial.number)
        self.known_count = before + 1
        return before < n_trials
