"""`tune plot`: every kind to HTML (plotly) and PNG (matplotlib) from a real small study; large studies sampled."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tests.analysis.analysis_studies import make_study
from tuner.analysis.plots import KINDS, write_plots
from tuner.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> optuna.Study:
    return make_study(None, tmp_path_factory.mktemp("study"))


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory, holding tune.db with the small study."""
    monkeypatch.chdir(tmp_path)
    make_study("sqlite:///tune.db", tmp_path / "results")
    return tmp_path


@pytest.mark.parametrize("fmt", ["html", "png"])
def test_every_kind_is_written_as_a_non_trivial_file(study, tmp_path, fmt):
    report = write_plots(study, directory=tmp_path / "plots", fmt=fmt)

    assert report.skipped == {}
    # The Pareto front belongs to studies with several objectives; this one has one.
    assert sorted(plot.kind for plot in report.written) == sorted(kind for kind in KINDS if kind != "pareto")
    for plot in report.written:
        assert plot.path.suffix == f".{fmt}"
        assert plot.path.stat().st_size > 5000, plot.kind


def test_png_plots_open_as_images(study, tmp_path):
    import matplotlib.image

    report = write_plots(study, directory=tmp_path, fmt="png", kinds=["history", "contour", "timeline"])

    for plot in report.written:
        assert plot.path.read_bytes()[:8] == PNG_MAGIC
        height, width, _ = matplotlib.image.imread(plot.path).shape
        assert height > 200 and width > 200


def test_html_plots_share_one_offline_copy_of_plotly(study, tmp_path):
    write_plots(study, directory=tmp_path, fmt="html", kinds=["history", "slice"])
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    assert 'src="plotly.min.js"' in (tmp_path / "slice.html").read_text()


def test_history_draws_the_baseline_as_a_reference_line(study, tmp_path):
    write_plots(study, directory=tmp_path, kinds=["history"], baseline=4.25)
    html = (tmp_path / "optimization_history.html").read_text()
    assert "baseline 4.25" in html and "Best Value" in html


def test_learning_curves_name_trials_and_show_pruned_ones(study, tmp_path):
    write_plots(study, directory=tmp_path, kinds=["intermediate"])
    html = (tmp_path / "intermediate_values.html").read_text()
    pruned = [trial.number for trial in study.trials if trial.state.name == "PRUNED"]
    assert f'"name":"trial {pruned[0]} (pruned)"' in html
    assert '"dash":"dot"' in html


def test_large_study_is_sampled_in_seconds_and_says_so(tmp_path):
    study = make_study(None, tmp_path, n_complete=400, n_pruned=200, n_failed=0)
    started = time.monotonic()
    report = write_plots(study, directory=tmp_path / "plots", kinds=["contour", "intermediate"], evaluator="mdi")

    assert time.monotonic() - started < 20
    notes = {plot.kind: plot.note for plot in report.written}
    assert notes == {"contour": "sample of 300 of 400 trials", "intermediate": "sample of 300 of 600 trials"}
    assert "sample of 300 of 400 trials" in (tmp_path / "plots" / "contour.html").read_text()


def test_contour_needs_two_parameters(tmp_path):
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=5)
    report = write_plots(study, directory=tmp_path, kinds=["contour", "slice"], fmt="png", evaluator="mdi")
    assert [plot.kind for plot in report.written] == ["slice"]
    assert report.skipped == {"contour": "a contour plot needs two parameters; the study varies 1"}


def test_study_without_completed_trials_leaves_plots_out(tmp_path):
    study = make_study(None, tmp_path, n_complete=0, n_pruned=2, n_failed=1)
    report = write_plots(study, directory=tmp_path, kinds=["history", "timeline"], fmt="png")
    assert report.skipped == {"history": "no completed trial yet"}
    assert [plot.kind for plot in report.written] == ["timeline"]


def test_plot_command_writes_the_chosen_kinds(stored, tmp_path):
    result = CliRunner().invoke(
        main, ["plot", "history", "slice", "--format", "png", "-o", "out"], catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["optimization_history.png", "slice.png"]
    assert "out/slice.png" in result.output


def test_plot_command_rejects_an_unknown_kind(stored):
    result = CliRunner().invoke(main, ["plot", "histogram"])
    assert result.exit_code == 2
    assert "'histogram' is not one of 'history'" in result.output


def test_the_timeline_starts_each_trial_at_its_launch():
    """A trial asked ahead of a free slot waited; the timeline shows it from its launch."""
    import datetime

    from tuner.analysis.plots import _Context

    asked = datetime.datetime(2026, 1, 1, 12, 0, 0)
    launched = asked + datetime.timedelta(seconds=5)
    trial = optuna.trial.create_trial(
        params={"x": 0.5},
        distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
        value=1.0,
        user_attrs={"launch": {"slot": "job0", "started": launched.timestamp()}},
    )
    trial.datetime_start, trial.datetime_complete = asked, launched + datetime.timedelta(seconds=2)
    study = optuna.create_study()
    study.add_trial(trial)

    figure, _ = _Context(study, evaluator="fanova", baseline=None, top_params=3).figure("timeline", "html")

    (bar,) = [data for data in figure.data if len(data.x)]
    assert datetime.datetime.fromisoformat(str(bar.base[0])) == launched
    assert bar.x[0] == pytest.approx(2000)  # milliseconds: the run, not the wait


def _short_log_range_study() -> optuna.Study:
    """Two log parameters spanning less than a decade: matplotlib labels their minor ticks, which collide."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    distributions = {
        "num_filters": IntDistribution(4, 30, log=True),
        "hidden_dim": IntDistribution(16, 128, log=True),
        "lr": FloatDistribution(5e-4, 0.1, log=True),
        "optimizer": CategoricalDistribution(["adam", "rmsprop", "sgd"]),
    }
    for _ in range(12):
        trial = study.ask(distributions)
        study.tell(trial, trial.params["num_filters"] / 30 + 10 * trial.params["lr"])
    return study


def _png_figure(study: optuna.Study, kind: str):
    from tuner.analysis.plots import _Context

    return _Context(study, "fanova", None, 3).figure(kind, "png")[0]


@pytest.mark.parametrize("kind", ["slice", "parallel", "contour"])
def test_png_tick_labels_are_plain_numbers_that_do_not_overlap(kind):
    import numpy

    from tuner.analysis.plots import tick_labels_overlap

    figure = numpy.asarray(_png_figure(_short_log_range_study(), kind)).flat[0].figure
    figure.canvas.draw()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            assert not tick_labels_overlap(axis), (kind, axes.get_xlabel(), axes.get_ylabel())
            assert not any("times" in label.get_text() for label in axis.get_ticklabels(which="both"))  # no 2x10^1


def test_png_contour_is_one_panel_of_the_two_most_important_parameters(study):
    import numpy

    figure = numpy.asarray(_png_figure(study, "contour")).flat[0].figure
    panels = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]

    assert len(panels) == 1
    assert "x" in (panels[0].get_xlabel(), panels[0].get_ylabel())  # x dominates the study's value
    width, height = figure.get_size_inches()
    assert width >= 8 and height >= 6
