"""GPUs: groups per trial, the parent's CUDA_VISIBLE_DEVICES, --gpus free, and what a trial is given.

A fake nvidia-smi (tests/fakes/nvidia-smi) on PATH answers the exact queries tune makes for eight
GPUs, from a state file the tests change while tune runs (to make a GPU busy or free it).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import wait_for
from tests.fakes.machine import FAKES, FakeMachine, OutputLines, gpu_uuid, install_fake_machine
from tests.faults.conftest import tune_process
from tuner.errors import OptionError
from tuner.trials.gpus import visible_gpus
from tuner.trials.launch import CommandTemplate
from tuner.trials.slots import build_slots, plan_slots

STORAGE = "sqlite:///tune.db"
RECORDER = f"{sys.executable} {FAKES / 'recorder.py'} {{config}} {{serialization_dir}}"


@pytest.fixture
def fake_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    return install_fake_machine(tmp_path, monkeypatch)


def seen_by_trials(results: Path) -> dict[int, dict]:
    """What each trial's recorder saw: trial number -> argv and CUDA_VISIBLE_DEVICES."""
    return {
        int(path.parent.name.split("_")[1]): json.loads(path.read_text()) for path in results.glob("trial_*/seen.json")
    }


def trials() -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="quad", storage=STORAGE).trials


# --- slots and the environment of each trial ---------------------------------------------------------------------


def test_gpus_per_trial_makes_disjoint_groups_in_order(fake_gpus):
    slots = build_slots(gpus="all", gpus_per_trial=2)
    assert [slot.label for slot in slots] == ["gpu0+1", "gpu2+3", "gpu4+5", "gpu6+7"]
    assert [slot.env["CUDA_VISIBLE_DEVICES"] for slot in slots] == ["0,1", "2,3", "4,5", "6,7"]
    assert [(slot.gpu, slot.gpus) for slot in slots][1] == ("2", ("2", "3"))
    # nvidia-smi numbers by PCI bus; CUDA would number fastest first unless told
    assert {slot.env["CUDA_DEVICE_ORDER"] for slot in slots} == {"PCI_BUS_ID"}
    assert build_slots(gpus="5,1,6,2", gpus_per_trial=2)[0].label == "gpu5+1"
    assert build_slots()[0].gpus == ()


def test_each_trial_sees_its_group_and_gets_it_in_its_command(study_files, tune_cli, fake_gpus, tmp_path):
    command = f"{RECORDER} --devices={{gpus}} --nproc-per-node {{n_gpus}}"
    args = study_files(extra={"epochs": 1})
    result = tune_cli(*args, "--n-trials", "6", "--gpus", "all", "--gpus-per-trial", "2", "--command", command)

    assert result.exit_code == 0, result.output
    seen = seen_by_trials(tmp_path / "results" / "quad")
    assert len(seen) == 6
    for number, trial in enumerate(trials()):
        devices = seen[number]["CUDA_VISIBLE_DEVICES"]
        assert devices in {"0,1", "2,3", "4,5", "6,7"}
        assert seen[number]["argv"] == [f"--devices={devices}", "--nproc-per-node", "2"]
        assert trial.user_attrs["launch"]["slot"] == "gpu" + devices.replace(",", "+")
        assert trial.user_attrs["launch"]["gpu"] == devices.split(",")[0]


# --- the parent's CUDA_VISIBLE_DEVICES ---------------------------------------------------------------------------


def test_parent_restriction_is_all_there_is(fake_gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert [slot.env["CUDA_VISIBLE_DEVICES"] for slot in build_slots(gpus="all")] == ["2", "3"]
    only = build_slots(gpus="0")  # CUDA's renumbering: 0 is the first visible GPU
    assert [(slot.label, slot.env["CUDA_VISIBLE_DEVICES"]) for slot in only] == [("gpu2", "2")]
    # the parent's device order is the children's too: tune adds none
    assert "CUDA_DEVICE_ORDER" not in only[0].env
    with pytest.raises(OptionError, match=r"GPU 2, which does not exist \(GPUs here: 0, 1\)"):
        build_slots(gpus="2")


def test_uuid_entries_are_passed_on_as_they_are(fake_gpus, monkeypatch):
    prefix = gpu_uuid(5)[:12]  # CUDA takes a unique prefix of a UUID too
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"{gpu_uuid(6)},{prefix}")
    slots = build_slots(gpus="all", gpus_per_trial=2)
    assert [(slot.label, slot.env["CUDA_VISIBLE_DEVICES"]) for slot in slots] == [("gpu6+5", f"{gpu_uuid(6)},{prefix}")]
    assert [gpu.uuid for gpu in visible_gpus()] == [gpu_uuid(6), gpu_uuid(5)]


@pytest.mark.parametrize(
    ("value", "devices"),
    [
        ("", []),  # set but empty: no GPU at all
        ("-1", []),
        ("1,9,2", ["1"]),  # CUDA stops at the first entry that names no GPU
        ("4, 0", ["4", "0"]),
        ("MIG-4f0a8b2c-1111-2222-3333-444455556666", ["MIG-4f0a8b2c-1111-2222-3333-444455556666"]),
    ],
)
def test_cuda_visible_devices_is_read_as_cuda_reads_it(fake_gpus, monkeypatch, value, devices):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert [gpu.device for gpu in visible_gpus()] == devices


def test_tuner_available_gpus_still_stands_in_for_nvidia_smi(monkeypatch):
    monkeypatch.setenv("TUNER_AVAILABLE_GPUS", "0,1,2,3")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [slot.label for slot in build_slots(gpus="all", gpus_per_trial=2)] == ["gpu0+1", "gpu2+3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert [slot.env["CUDA_VISIBLE_DEVICES"] for slot in build_slots(gpus="all")] == ["3", "1"]


def test_a_trial_never_sees_a_gpu_the_parent_hides(study_files, tune_cli, fake_gpus, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    result = tune_cli(*study_files(extra={"epochs": 1}), "--n-trials", "4", "--gpus", "all", "--command", RECORDER)
    assert result.exit_code == 0, result.output
    assert {seen["CUDA_VISIBLE_DEVICES"] for seen in seen_by_trials(tmp_path / "results" / "quad").values()} <= {
        "6",
        "7",
    }


# --- placeholders ------------------------------------------------------------------------------------------------


def test_resume_placeholder(tmp_path):
    template = CommandTemplate.parse(f"{sys.executable} train.py {{config}} {{resume}} --again={{resume}}")
    common = {"config": Path("c.json"), "serialization_dir": tmp_path, "trial_number": 0}
    assert template.render(**common)[-2:] == ["c.json", "--again=0"]
    assert template.render(**common, resume=True)[-3:] == ["c.json", "--resume", "--again=1"]
    on_slot = CommandTemplate.parse(f"{sys.executable} t.py {{gpus}} n={{n_gpus}}").for_slot(("GPU-a", "GPU-b"))
    assert on_slot.render(**common)[-2:] == ["GPU-a,GPU-b", "n=2"]


# --- --gpus free -------------------------------------------------------------------------------------------------


def test_gpus_free_leaves_out_the_busy_one(study_files, tune_cli, fake_gpus, tmp_path):
    fake_gpus.occupy(3)
    fake_gpus.set_memory(5, 4000)  # memory held with no process listed: another container's job
    args = study_files(extra={"epochs": 1})
    result = tune_cli(*args, "--n-trials", "8", "--gpus", "free", "--command", RECORDER)

    assert result.exit_code == 0, result.output
    assert "gpu3 busy (other user's process): not used" in result.output
    assert "gpu5 busy (4000 MiB in use by others, over --busy-gpu-mb 1024): not used" in result.output
    used = {seen["CUDA_VISIBLE_DEVICES"] for seen in seen_by_trials(tmp_path / "results" / "quad").values()}
    assert used and used <= {"0", "1", "2", "4", "6", "7"}


def test_busy_gpu_mb_sets_the_threshold(fake_gpus):
    fake_gpus.set_memory(2, 4000)
    slots, _ = plan_slots(gpus="free", busy_gpu_mb=8000)
    assert "gpu2" in [slot.label for slot in slots]
    slots, _ = plan_slots(gpus="free", busy_gpu_mb=2000)
    assert "gpu2" not in [slot.label for slot in slots]


def test_gpus_free_with_groups_uses_whole_groups_of_the_free_ones(fake_gpus):
    fake_gpus.occupy(1)
    slots, watch = plan_slots(gpus="free", gpus_per_trial=2)
    assert [slot.label for slot in slots] == ["gpu0+2", "gpu3+4", "gpu5+6"]
    assert any("gpu7 not used (--gpus-per-trial 2)" in note for note in watch.notes)


def test_all_busy_waits_then_launches_when_one_frees(study_files, fake_gpus, tmp_path):
    for index in range(8):
        fake_gpus.occupy(index)
    args = study_files(extra={"epochs": 1})
    tune = tune_process(["run", *args, "--n-trials", "2", "--gpus", "free", "--command", RECORDER], tmp_path)
    output = OutputLines(tune)
    try:
        wait_for(
            lambda: output.having("gpu5 busy (other user's process): waiting") or tune.poll() is not None,
            "tune saying that gpu5's slot waits",
        )
        assert tune.poll() is None, output.text
        waited_from = time.monotonic()
        readings_before = fake_gpus.readings()
        wait_for(lambda: fake_gpus.readings() >= readings_before + 2, "tune reading the GPUs again")
        assert not seen_by_trials(tmp_path / "results" / "quad")  # nothing launched meanwhile
        fake_gpus.free(5)
        assert tune.wait(timeout=120) == 0, output.text
        waited = time.monotonic() - waited_from
    finally:
        tune.kill()
    assert output.having("gpu5 free again")
    assert [seen["CUDA_VISIBLE_DEVICES"] for seen in seen_by_trials(tmp_path / "results" / "quad").values()] == [
        "5",
        "5",
    ]
    # about one reading a second while waiting, not one per poll of the runner (10 a second)
    assert fake_gpus.readings() - readings_before <= waited + 3


def test_ctrl_c_ends_the_wait(study_files, fake_gpus, tmp_path):
    for index in range(8):
        fake_gpus.occupy(index)
    args = study_files(extra={"epochs": 1})
    tune = tune_process(["run", *args, "--n-trials", "2", "--gpus", "free", "--command", RECORDER], tmp_path)
    output = OutputLines(tune)
    try:
        wait_for(
            lambda: output.having("busy (other user's process): waiting") or tune.poll() is not None,
            "tune saying that the slots wait",
        )
        tune.send_signal(signal.SIGINT)
        assert tune.wait(timeout=60) == 130, output.text
    finally:
        tune.kill()
    assert not seen_by_trials(tmp_path / "results" / "quad")
    assert output.having("Stopped: interrupted")


def test_a_slot_whose_gpu_is_taken_mid_run_waits(study_files, tmp_path, monkeypatch):
    machine = install_fake_machine(tmp_path, monkeypatch, count=2)
    release = tmp_path / "release"
    args = study_files(extra={"epochs": 1, "hold": str(release)})
    tune = tune_process(["run", *args, "--n-trials", "4", "--gpus", "free", "--command", RECORDER], tmp_path)
    output = OutputLines(tune)
    results = tmp_path / "results" / "quad"
    try:
        wait_for(lambda: len(seen_by_trials(results)) == 2 or tune.poll() is not None, "two trials running")
        machine.occupy(1)  # someone starts a job on gpu1 while tune's trial runs there
        readings = machine.readings()
        wait_for(lambda: machine.readings() >= readings + 2, "tune reading the GPUs since")
        release.touch()
        wait_for(
            lambda: output.having("gpu1 busy (other user's process): waiting") or tune.poll() is not None,
            "tune saying that gpu1's slot waits",
        )
        assert tune.wait(timeout=120) == 0, output.text
    finally:
        tune.kill()
    by_number = {trial.number: trial.user_attrs["launch"]["slot"] for trial in trials()}
    assert {by_number[0], by_number[1]} == {"gpu0", "gpu1"}
    assert by_number[2] == by_number[3] == "gpu0"  # launched after gpu1 was taken: never there


# --- impossible combinations: one line, exit 2 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--gpus", "0,1", "--gpus-per-trial", "3"], "--gpus-per-trial 3 needs 3 GPUs; --gpus gives 2 (0,1)"),
        (
            ["--gpus", "all", "--gpus-per-trial", "3"],
            (
                "--gpus-per-trial 3 does not divide the 8 GPUs of --gpus (0,1,2,3,4,5,6,7): GPU 6,7 would stay idle; "
                "give --gpus 0,1,2,3,4,5 to leave them out"
            ),
        ),
        (["--gpus", "all", "--gpus-per-trial", "2", "--trials-per-gpu", "2"], "gets them to itself"),
        (["--gpus-per-trial", "2"], "--gpus-per-trial needs --gpus"),
        (["--gpus-per-trial", "2", "--n-jobs", "2"], "--gpus-per-trial needs --gpus"),
        (["--gpus", "0,1", "--n-jobs", "2"], "--n-jobs is for CPU trials"),
        (["--gpus-per-trial", "0"], "--gpus-per-trial must be at least 1, got 0"),
        (["--busy-gpu-mb", "-5", "--gpus", "free"], "--busy-gpu-mb must be at least 0, got -5"),
        (["--command", f"{RECORDER} {{gpus}}"], "--command uses {gpus}, which needs --gpus"),
        (["--command", f"{RECORDER} {{n_gpus}}"], "--command uses {n_gpus}, which needs --gpus"),
        (["--gpus", "0", "--command", f"{RECORDER} {{gpu}}"], "unknown placeholder {gpu}"),
    ],
)
def test_impossible_gpu_options_are_one_line_and_exit_2(study_files, tune_cli, fake_gpus, tmp_path, options, message):
    command = [] if "--command" in options else ["--command", RECORDER]
    result = tune_cli(*study_files(), "--n-trials", "1", *command, *options)
    assert result.exit_code == 2, result.output
    # click's usage lines aside, as the catalogue of bad inputs (tests/faults/test_bad_inputs.py) counts them
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith(("Usage: ", "Try '"))]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert not (tmp_path / "tune.db").exists()


def test_gpus_free_with_every_gpu_hidden_is_one_line(study_files, tune_cli, fake_gpus, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    result = tune_cli(*study_files(), "--n-trials", "1", "--gpus", "free", "--command", RECORDER)
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: --gpus free: no NVIDIA GPU found on this machine (CUDA_VISIBLE_DEVICES='' hides them all)"
    )
