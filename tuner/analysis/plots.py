"""Plots of a study with Optuna's own visualisation: plotly for HTML, matplotlib for PNG.

PNG needs no browser and no kaleido: Optuna's matplotlib variants draw with the Agg
backend. Where a plot grows faster than the study (contour grids, one line per learning
curve, fANOVA behind the importance bars), large studies are plotted from a sample and
the plot says so under its title.

With several objectives the plots of one target (history, parallel, slice, contour) are drawn once per
objective (``slice_<metric>.png``), the Pareto front is added, and the learning curves are the prune-on
objective's (:mod:`tuner.analysis.pareto_plot`).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.analysis.importance import DEFAULT_EVALUATOR, Importances, param_importances, precomputed_evaluator
from tuner.analysis.pareto_plot import (
    name_epoch_axis,
    name_objectives,
    objective_file_suffix,
    objective_target,
    per_epoch_study,
    several_objectives_arguments,
)
from tuner.analysis.views import TrialView, in_memory_copy, launch_timed_copy, sampled_view
from tuner.errors import OptionError, StudyError, require
from tuner.study.records import ATTR_METRIC, stored_metrics

if TYPE_CHECKING:
    import optuna

FORMATS = ("html", "png")
MAX_SAMPLED_TRIALS = 300  # contour: 131 MB of HTML for 3000 trials; learning curves: 12 s of matplotlib
TOP_PARAMS = 3
PNG_DPI = 100
LEGEND_MAX_CURVES = 12
_FINISHED = ("COMPLETE", "PRUNED", "RUNNING")


@dataclass(frozen=True)
class PlotKind:
    """One kind of plot: Optuna's function for it, its file name, and which trials it shows."""

    function: str  # in both optuna.visualization and optuna.visualization.matplotlib
    file_stem: str
    sampled_states: tuple[str, ...] | None = None  # plotted from a sample of these, when large
    needs_complete: bool = True


KINDS: dict[str, PlotKind] = {
    "history": PlotKind("plot_optimization_history", "optimization_history"),
    "importance": PlotKind("plot_param_importances", "param_importances"),
    "parallel": PlotKind("plot_parallel_coordinate", "parallel_coordinate"),
    "slice": PlotKind("plot_slice", "slice"),
    "contour": PlotKind("plot_contour", "contour", sampled_states=("COMPLETE",)),
    "intermediate": PlotKind(
        "plot_intermediate_values", "intermediate_values", sampled_states=_FINISHED, needs_complete=False
    ),
    "timeline": PlotKind("plot_timeline", "timeline", needs_complete=False),
    "pareto": PlotKind("plot_pareto_front", "pareto_front"),  # several objectives only
}
# Kinds that plot one objective: with several, one plot per objective (``target``); the importance plot shows each.
_ONE_TARGET = ("history", "parallel", "slice", "contour")


@dataclass(frozen=True)
class PlotFile:
    kind: str
    path: Path
    seconds: float
    note: str | None = None
    objective: str | None = None  # several objectives: the metric this plot shows

    @property
    def label(self) -> str:
        """``slice`` or, for one objective of several, ``slice (param_count)``."""
        return self.kind if self.objective is None else f"{self.kind} ({self.objective})"


@dataclass
class PlotReport:
    """The plots written, and the kinds left out with the reason."""

    written: list[PlotFile] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def write_plots(
    study: optuna.Study,
    *,
    directory: str | Path,
    kinds: Sequence[str] | None = None,
    fmt: str = "html",
    baseline: float | None = None,
    evaluator: str = DEFAULT_EVALUATOR,
    top_params: int = TOP_PARAMS,
) -> PlotReport:
    """Write one file per plot kind (all kinds by default) into ``directory``.

    Raises:
        OptionError: an unknown kind or format.
        MissingDependencyError: plotly (HTML) or matplotlib (PNG) is not installed.
    """
    kinds = _check_kinds(kinds, fmt) if kinds else [kind for kind in _check_kinds(kinds, fmt) if _default(kind, study)]
    require("plotly" if fmt == "html" else "matplotlib", purpose=f"tune plot --format {fmt}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    context = _Context(in_memory_copy(study), evaluator, baseline, top_params)
    context.target_name = study.user_attrs.get(ATTR_METRIC) or context.target_name
    context.metrics = stored_metrics(study)
    context.stored = study
    name_objectives(context.study, context.metrics)
    report = PlotReport()
    for kind in kinds:
        for objective in context.objectives(kind):
            started = time.monotonic()
            metric = None if objective is None else context.metrics[objective]
            try:
                figure, note = context.figure(kind, fmt, objective)
            except StudyError as error:
                report.skipped[kind if metric is None else f"{kind} ({metric})"] = str(error)
                continue
            suffix = "" if metric is None else objective_file_suffix(metric)
            path = directory / f"{KINDS[kind].file_stem}{suffix}.{fmt}"
            _save(figure, path, note)
            report.written.append(PlotFile(kind, path, time.monotonic() - started, note, metric))
    return report


class _Context:
    """The study in memory, and the importances computed at most once for all plots."""

    def __init__(self, study: optuna.Study, evaluator: str, baseline: float | None, top_params: int) -> None:
        self.study = study
        self.evaluator = evaluator
        self.baseline = baseline
        self.top_params = top_params
        self.target_name = "Objective Value"  # Optuna's default axis title
        self.metrics: list[str] = []  # each objective's metric
        self.stored: optuna.Study | None = None  # the study as stored (its attributes; the copy has none)
        self._importances: dict[int | None, Importances] = {}
        self._per_epoch: tuple[optuna.Study, str] | None = None

    @property
    def multi(self) -> bool:
        return len(self.study.directions) > 1

    def objectives(self, kind: str) -> list[int | None]:
        """The objectives ``kind`` is drawn for: each of several for one-target kinds, else one plot (None)."""
        return list(range(len(self.study.directions))) if self.multi and kind in _ONE_TARGET else [None]

    def importances(self, objective: int | None = None) -> Importances:
        if objective not in self._importances:
            found = param_importances(self.study, evaluator=self.evaluator, objective=objective)
            self._importances[objective] = found
        return self._importances[objective]

    def per_epoch(self) -> tuple[optuna.Study, str | None]:
        """The study the learning curves are drawn from, and the metric they show (None: Optuna's own)."""
        if not self.multi:
            return self.study, None
        if self._per_epoch is None:
            self._per_epoch = per_epoch_study(self.stored or self.study, self.study)
        return self._per_epoch

    def figure(self, kind: str, fmt: str, objective: int | None = None) -> tuple[Any, str | None]:
        """Optuna's figure (plotly) or axes (matplotlib) for ``kind``, and a sampling note."""
        spec = KINDS[kind]
        study, epoch_metric = self.per_epoch() if kind == "intermediate" else (self.study, None)
        self._check_has_trials(spec, study, epoch_metric)
        view = self._view(spec, study)
        kwargs = self._arguments(kind, fmt, objective)
        function = getattr(_module(fmt), spec.function)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning of the matplotlib variants
            figure = function(view.study, **kwargs)
        if kind == "history" and self.baseline is not None and not objective:
            _add_baseline(figure, self.baseline, fmt)
        if kind == "intermediate":
            _mark_pruned(figure, view, fmt)
            if epoch_metric is not None:
                name_epoch_axis(figure, epoch_metric, fmt)
        if fmt == "png":
            readable_png(figure, kind)
        note = view.note
        if kind == "importance" and not self.multi and self.importances().sampled:
            note = f"{self.importances().evaluator} on {self.importances().basis}"
        return figure, note

    def _check_has_trials(self, spec: PlotKind, study: optuna.Study, epoch_metric: str | None) -> None:
        trials = study.get_trials(deepcopy=False)
        if spec.needs_complete and not any(trial.state.name == "COMPLETE" for trial in trials):
            raise StudyError("no completed trial yet")
        if not trials:
            raise StudyError("the study has no trials")
        if spec.function == "plot_intermediate_values" and not any(trial.intermediate_values for trial in trials):
            of = f" of {epoch_metric}, the objective pruning follows" if epoch_metric else ""
            raise StudyError(f"no trial reported per-epoch values{of}")

    def _view(self, spec: PlotKind, study: optuna.Study) -> TrialView:
        if spec.sampled_states is None:
            trials = study.get_trials(deepcopy=False)
            shown = launch_timed_copy(study) if spec.function == "plot_timeline" else study
            return TrialView(shown, tuple(trial.number for trial in trials), len(trials))
        with_intermediate = spec.function == "plot_intermediate_values"
        return sampled_view(
            study, states=spec.sampled_states, limit=MAX_SAMPLED_TRIALS, with_intermediate=with_intermediate
        )

    def _arguments(self, kind: str, fmt: str, objective: int | None) -> dict[str, Any]:
        if kind in ("intermediate", "timeline"):
            return {}
        if kind == "pareto" or (kind == "importance" and self.multi):
            return several_objectives_arguments(self.study, kind, self.metrics, self.evaluator)
        arguments: dict[str, Any] = {"target_name": self.target_name}
        if objective is not None:
            arguments.update(target=objective_target(objective), target_name=self.metrics[objective])
        if kind == "importance":
            arguments["evaluator"] = precomputed_evaluator(self.importances())
        if kind == "contour":
            # A static grid of more than one pair is cramped and half empty (its diagonal): PNG shows the top pair.
            top = self.importances(objective).top(self.top_params if fmt == "html" else 2)
            if len(top) < 2:
                raise StudyError(f"a contour plot needs two parameters; the study varies {len(top)}")
            arguments["params"] = top
        return arguments


def _module(fmt: str) -> Any:
    if fmt == "html":
        import optuna.visualization

        return optuna.visualization
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # no display needed; an already chosen backend is left alone
    import optuna.visualization.matplotlib

    return optuna.visualization.matplotlib


def _add_baseline(figure: Any, baseline: float, fmt: str) -> None:
    label = f"baseline {baseline:.4g}"
    if fmt == "html":
        figure.add_hline(y=baseline, line_dash="dash", line_color="gray", annotation_text=label)
    else:
        figure.axhline(baseline, linestyle="--", color="gray", label=label)
        figure.legend()


def _mark_pruned(figure: Any, view: TrialView, fmt: str) -> None:
    """Name curves by their trial's real number, and draw pruned trials dotted."""
    pruned = {trial.number for trial in view.study.get_trials(deepcopy=False) if trial.state.name == "PRUNED"}
    curves = list(figure.data) if fmt == "html" else figure.get_lines()
    if len(curves) != view.n_shown:
        return  # not the one-curve-per-trial figure this expects; leave Optuna's as it is
    for index, (curve, number) in enumerate(zip(curves, view.numbers)):
        label = f"trial {number}" + (" (pruned)" if index in pruned else "")
        if fmt == "html":
            curve.name = label
            curve.line.dash = "dot" if index in pruned else None
        else:
            curve.set_label(label)
            curve.set_linestyle(":" if index in pruned else "-")
    if fmt == "png":
        _legend(figure, many=view.n_shown > LEGEND_MAX_CURVES)


def _legend(axes: Any, *, many: bool) -> None:
    """Optuna's legend lists every trial; past a few curves, say only what the line styles mean."""
    from matplotlib.lines import Line2D

    handles = None
    if many:
        handles = [
            Line2D([], [], color="gray", label="complete"),
            Line2D([], [], color="gray", linestyle=":", label="pruned"),
        ]
    axes.legend(handles=handles, bbox_to_anchor=(1.05, 1.0), loc="upper left")


def readable_png(figure: Any, kind: str) -> None:
    """Make Optuna's matplotlib figure readable: room per axis, plain log ticks, no overlapping tick labels."""
    import numpy

    matplotlib_figure = numpy.asarray(figure).flat[0].figure
    width, height = matplotlib_figure.get_size_inches()
    if kind == "parallel":  # one vertical axis per parameter, each with its tick labels beside it
        width = max(width, 1.6 * len(matplotlib_figure.axes))
    elif kind == "contour":
        width, height = max(width, 8.0), max(height, 6.0)
    matplotlib_figure.set_size_inches(width, max(height, 4.5))
    for axes in matplotlib_figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            if axis.get_scale() == "log":
                _plain_log_ticks(axis)
    matplotlib_figure.canvas.draw()
    for axes in matplotlib_figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            _thin_overlapping_ticks(axis)


def _plain_log_ticks(axis: Any) -> None:
    """Ticks at 1, 2 and 5 of each decade, written as numbers (0.002, 50): matplotlib's default labels the
    minor ticks of a short log axis as ``2x10^1 3x10^1 ...``, which run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def tick_labels_overlap(axis: Any) -> bool:
    """Whether two of ``axis``'s drawn numeric tick labels overlap (the figure must have been drawn)."""
    labels = axis.get_ticklabels(which="both")
    boxes = [label.get_window_extent() for label in labels if label.get_visible() and _is_number(label.get_text())]
    return any(first.overlaps(second) for index, first in enumerate(boxes) for second in boxes[index + 1 :])


def _is_number(text: str) -> bool:
    """Whether a tick label is a number, as plain text or as mathtext (``$\\mathdefault{2\\times10^{1}}$``)."""
    if text.startswith("$") and any(character.isdigit() for character in text):
        return True
    try:
        float(text.replace("\u2212", "-"))
    except ValueError:
        return False
    return True


def _thin_overlapping_ticks(axis: Any) -> None:
    """Keep every second (third, ...) numeric tick of ``axis`` until their labels no longer overlap.

    Names (categories, parameter names) are never dropped: a missing one could not be told from the others.
    """
    low, high = sorted(axis.get_view_interval())
    ticks = [
        (location, label.get_text())
        for location, label in zip(axis.get_ticklocs(), axis.get_ticklabels())
        if low <= location <= high
    ]
    if not ticks or not all(_is_number(text) for _, text in ticks):
        return
    step = 1
    while tick_labels_overlap(axis) and step < len(ticks):
        step += 1
        axis.set_ticks([location for location, _ in ticks[::step]], labels=[text for _, text in ticks[::step]])
        axis.set_view_interval(low, high, ignore=True)  # set_ticks widens the view to its ticks otherwise
        axis.figure.canvas.draw()


def _save(figure: Any, path: Path, note: str | None) -> None:
    if hasattr(figure, "write_html"):
        if note:
            title = figure.layout.title.text or ""
            figure.update_layout(title_text=f"{title}<br><sup>{note}</sup>")
        figure.write_html(path, include_plotlyjs="directory")  # one plotly.min.js for the folder, works offline
        return
    import matplotlib.pyplot as plt
    import numpy

    matplotlib_figure = numpy.asarray(figure).flat[0].figure
    if note:
        matplotlib_figure.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=8, color="dimgray")
    try:
        matplotlib_figure.savefig(path, dpi=PNG_DPI, bbox_inches="tight")
    finally:
        plt.close(matplotlib_figure)


def _default(kind: str, study: optuna.Study) -> bool:
    """Whether ``tune plot`` without kinds draws ``kind``: the Pareto front only with several objectives."""
    return kind != "pareto" or len(study.directions) > 1


def _check_kinds(kinds: Sequence[str] | None, fmt: str) -> list[str]:
    if fmt not in FORMATS:
        raise OptionError(f"unknown plot format '{fmt}'; available: {', '.join(FORMATS)}")
    if not kinds:
        return list(KINDS)
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise OptionError(f"unknown plot kind '{unknown[0]}'; available: {', '.join(KINDS)}")
    return list(dict.fromkeys(kinds))
