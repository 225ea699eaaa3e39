"""Parallel slots and cooperating processes: slot utilisation and throughput scaling.

1. utilisation: one `tune` with 4 slots (--n-jobs 4); trials sleep a random 0.5-2 s
   (tests/trainers/sleeper.py). Utilisation = time spent inside trials (the trainer's own
   clock, from the end of its imports to its end) / (4 x the window), the window running from
   the first trial's start to the last trial's start: while there were trials to start. (After
   that, slots fall idle as the last trials finish; that drain is shown separately.) Goal >= 98 %.
2. scaling: 1, 2, 4, 8 `tune` processes on one study (same --storage and --study-name),
   a trivial trainer (no sleep, no torch), until the study has --trials trials. Reports the
   study's trials per second and the errors (non-zero exits, tracebacks, trials that are not
   COMPLETE). Storages: SQLite, Optuna's journal file, and PostgreSQL when
   TUNER_TEST_POSTGRES_URL is set (`.ci/start-postgres` prints one), directly and through
   `tune storage-proxy` (storage "proxy"). --processes picks the counts (up to 16 and 32);
   --storages the storages. For PostgreSQL it also reports the peak number of client
   connections (pg_stat_activity, sampled every 0.1 s while the processes run) and the CPU
   time the server (and the proxy) spent per trial, read from /proc: the server must run on
   this machine; the sampler's own connection is left out of both.

3. startup: time to first trial with --slots slots (4 and 8 by default), warm and plain launch
   interleaved: from starting the `tune` command to the end of the first trial's work, and to
   the end of the last of the first --slots trials' work (every slot has had a trial). Trainers:
   the torch-free sleeper (0.5 s of sleep) and the torch trainer of trial_overhead.py (imports
   torch, 5 Adam steps of a small MLP: a few ms once torch is imported and warm).

Run from the repository root:
    python benchmarks/parallel.py utilisation --trials 40 --repeats 3
    python benchmarks/parallel.py scaling --trials 60
    python benchmarks/parallel.py scaling --trials 96 --processes 16 32 --storages postgresql proxy
    python benchmarks/parallel.py startup --repeats 3 [--slots 4 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
SLEEPER = ROOT / "tests" / "trainers" / "sleeper.py"
UTILISATION_CONFIG = (
    "{x: 0.5, duration: std.parseJson(std.extVar('duration')), trainer: {validation_metric: '+accuracy'}}"
)
UTILISATION_SPACE = {"duration": {"type": "float", "low": 0.5, "high": 2.0}}
SLEEPER_MODULE = "{python} -m tests.trainers.sleeper {config} {serialization_dir}"
SCALING_CONFIG = "{x: std.parseJson(std.extVar('x')), duration: 0, trainer: {validation_metric: '+accuracy'}}"
SCALING_SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def tune_command(work: Path, config: str, space: dict, extra: list[str]) -> list[str]:
    (work / "c.jsonnet").write_text(config)
    (work / "space.json").write_text(json.dumps(space))
    return [sys.executable, "-m", "tuner", "c.jsonnet", "space.json", "--pruner", "none", *extra]


def utilisation(work: Path, trials: int, launch: str) -> tuple[float, float]:
    command = tune_command(
        work,
        UTILISATION_CONFIG,
        UTILISATION_SPACE,
        [
            "--n-trials",
            str(trials),
            "--n-jobs",
            "4",
            "--storage",
            f"sqlite:///{work / 't.db'}",
            "--launch",
            launch,
            "--command",
            "{python} -m tests.trainers.sleeper {config} {serialization_dir}",
        ],
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    works = [json.loads(path.read_text()) for path in work.glob("results/*/trial_*/work.json")]
    assert len(works) == trials, len(works)
    first = min(item["process_start"] for item in works)
    last_start = max(item["process_start"] for item in works)
    inside = sum(max(0.0, min(item["end"], last_start) - max(item["work_start"], first)) for item in works)
    whole = sum(item["end"] - item["work_start"] for item in works)
    return inside / (4 * (last_start - first)), whole / (4 * (max(item["end"] for item in works) - first))


def startup(work: Path, slots: int, launch: str, torch: bool) -> tuple[float, float]:
    """Seconds from the command's start to the first trial's end of work, and to every slot's first trial's."""
    trainer = "{python} -m benchmarks.trial_overhead --train {config} {serialization_dir}" if torch else SLEEPER_MODULE
    command = tune_command(
        work,
        UTILISATION_CONFIG,
        {"duration": {"type": "float", "low": 0.5, "high": 0.5001}},
        ["--n-trials", str(slots), "--n-jobs", str(slots), "--launch", launch]
        + ["--storage", f"sqlite:///{work / 't.db'}", "--command", trainer],
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.time()
    subprocess.run(command, cwd=work, env=env, check=True, capture_output=True)
    works = [json.loads(path.read_text()) for path in work.glob("results/*/trial_*/work.json")]
    assert len(works) == slots, len(works)
    working = sorted(item["end"] for item in works)
    return working[0] - started, working[-1] - started


def print_startup(slot_counts: list[int], repeats: int) -> None:
    cases = [(slots, torch, launch) for slots in slot_counts for torch in (False, True) for launch in ("warm", "plain")]
    first: dict[tuple, list[float]] = {case: [] for case in cases}
    every: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(repeats):
        for case in cases:  # interleaved: the rounds see the same machine
            with tempfile.TemporaryDirectory() as folder:
                one, all_slots = startup(Path(folder), case[0], case[2], case[1])
            first[case].append(one)
            every[case].append(all_slots)
    print(f"{'slots':>5s} {'trainer':>13s} {'launch':>6s} {'first trial done s':>24s} {'every slot s':>23s}")
    for case in cases:
        slots, torch, launch = case
        one, all_slots = first[case], every[case]
        print(
            f"{slots:5d} {'torch' if torch else 'sleeper':>13s} {launch:>6s} "
            f"{statistics.median(one):8.2f} ({min(one):.2f}-{max(one):.2f})      "
            f"{statistics.median(all_slots):8.2f} ({min(all_slots):.2f}-{max(all_slots):.2f})"
        )
    print(f"{repeats} interleaved rounds; load average (1 min) at the end {os.getloadavg()[0]:.2f}")


def scaling(work: Path, storage: str, processes: int, trials: int, check: str | None = None) -> tuple[float, int]:
    """Trials per second of ``processes`` `tune` processes on one study, and the errors; the study is read
    back from ``check`` (the database behind a proxy) or ``storage``."""
    name = f"scale-{uuid.uuid4().hex[:8]}"
    command = tune_command(
        work,
        SCALING_CONFIG,
        SCALING_SPACE,
        [
            "--n-trials",
            str(trials),
            "--storage",
            storage,
            "--study-name",
            name,
            "--command",
            f"{sys.executable} {SLEEPER} {{config}} {{serialization_dir}}",
        ],
    )
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [*command, "-s", f"results/p{index}"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for index in range(processes)
    ]
    outputs = [(process.communicate()[0], process.returncode) for process in running]
    elapsed = time.perf_counter() - started
    failed = [(output, code) for output, code in outputs if code != 0 or "Traceback" in output]
    for output, code in failed:  # what went wrong, on stderr: the table counts it
        print(f"exit {code}: {output.strip().splitlines()[-1] if output.strip() else ''}", file=sys.stderr)
    errors = len(failed)
    check = check or storage
    states = [trial.state.name for trial in optuna.load_study(study_name=name, storage=_loadable(check)).trials]
    errors += sum(1 for state in states if state not in ("COMPLETE",)) - _given_back(check, name)
    if any(state != "COMPLETE" for state in states):
        print(f"trial states: {sorted(set(states))}", file=sys.stderr)
    return trials / elapsed, errors


@contextmanager
def peak_connections(url: str | None) -> Iterator[list[float]]:
    """While the block runs, sample the PostgreSQL server's client connections (this sampler's own left out);
    the list holds the peak and the sampler's own server CPU seconds once the block ends (empty without ``url``)."""
    peak: list[float] = []
    if url is None:
        yield peak
        return
    import psycopg

    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            most = 0
            while not stop.is_set():
                row = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()"
                ).fetchone()
                most = max(most, row[0] if row else 0)
                stop.wait(0.1)
            row = connection.execute("SELECT pg_backend_pid()").fetchone()
            peak.extend([most, _cpu_seconds(row[0]) if row else 0.0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU seconds of process ``pid`` (its threads included; with ``children``, also its children that ended)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11 : 15 if children else 13])  # utime stime (cutime cstime)
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds(url: str) -> float:
    """CPU seconds the PostgreSQL server at ``url`` (on this machine) has spent: its postmaster, its live
    processes, and those that ended (a backend ends with its connection; the postmaster's children times hold it)."""
    import psycopg

    with psycopg.connect(url) as connection:  # its backend's parent is the postmaster (read while it lives)
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
        postmaster = int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1]) if row else 0
    total = _cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                total += _cpu_seconds(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return total


@contextmanager
def storage_proxy(url: str, work: Path, cpu: list[float] | None = None) -> Iterator[str]:
    """A `tune storage-proxy` in front of ``url`` while the block runs; the grpc:// URL workers use.
    ``cpu`` gets the proxy's CPU seconds from its start to the end of the block."""
    import re
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tuner", "storage-proxy", "--storage", url, "--host", "127.0.0.1"]
    proxy = subprocess.Popen(
        [*command, "--port", str(port)], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        match = re.search(r"--storage (grpc://\S+)", proxy.stdout.readline() if proxy.stdout else "")
        assert match, "the storage proxy did not start"
        started = _cpu_seconds(proxy.pid)  # its imports and start left out
        yield match.group(1)
        if cpu is not None:
            cpu.append(_cpu_seconds(proxy.pid) - started)
    finally:
        proxy.terminate()  # SIGTERM: stops it as Ctrl-C does
        proxy.wait(timeout=60)


def _loadable(storage: str) -> object:
    if storage.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage[len("journal:") :]))
    if storage.startswith("postgresql://"):
        return storage.replace("postgresql://", "postgresql+psycopg://", 1)
    return storage


def _given_back(storage: str, name: str) -> int:
    """Trials handed back unrun when several processes asked for the study's last trials (not errors)."""
    trials = optuna.load_study(study_name=name, storage=_loadable(storage)).trials
    return sum(1 for trial in trials if str(trial.user_attrs.get("reason", "")).startswith("not run:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["utilisation", "scaling", "startup"])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slots", type=int, nargs="+", default=[4, 8], help="for startup")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4, 8], help="for scaling")
    parser.add_argument(
        "--storages", nargs="+", default=["sqlite", "journal", "postgresql", "proxy"], help="for scaling"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.what == "startup":
        return print_startup(args.slots, args.repeats)
    if args.what == "utilisation":
        for launch in ("warm", "plain"):
            steady, overall = [], []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as folder:
                    window, whole = utilisation(Path(folder), args.trials, launch)
                steady.append(window)
                overall.append(whole)
            print(
                f"{launch:5s} launch: utilisation {statistics.median(steady):.4f} "
                f"(min {min(steady):.4f}, max {max(steady):.4f}); with the final drain "
                f"{statistics.median(overall):.4f}; {args.repeats} runs of {args.trials} trials"
            )
        return
    print_scaling(args.storages, args.processes, args.trials)


def print_scaling(storages: list[str], counts: list[int], trials: int) -> None:
    postgres = os.environ.get("TUNER_TEST_POSTGRES_URL")
    templates = {"sqlite": "sqlite:///{work}/s.db", "journal": "journal:{work}/s.log"}
    if postgres:
        templates.update(postgresql=postgres, proxy=postgres)
    print(
        f"{'storage':11s} {'processes':>9s} {'trials/s':>9s} {'errors':>6s} {'peak PG connections':>20s}"
        f" {'PG CPU ms/trial':>16s} {'proxy CPU ms/trial':>19s}"
    )
    for label in [label for label in storages if label in templates]:
        for processes in counts:
            with tempfile.TemporaryDirectory() as folder:
                url = templates[label].format(work=folder)
                on_postgres = label in ("postgresql", "proxy")
                pg_before, proxy_cpu = postgres_cpu_seconds(postgres) if on_postgres and postgres else 0.0, []
                with peak_connections(postgres if on_postgres else None) as peak:
                    if label == "proxy":
                        with storage_proxy(url, Path(folder), proxy_cpu) as proxy_url:
                            rate, errors = scaling(Path(folder), proxy_url, processes, trials, check=url)
                    else:
                        rate, errors = scaling(Path(folder), url, processes, trials)
                pg_cpu = postgres_cpu_seconds(postgres) - pg_before - peak[1] if on_postgres and postgres else None
            pg_ms = "-" if pg_cpu is None else f"{pg_cpu * 1000 / trials:.1f}"
            shown = str(int(peak[0])) if peak else "-"
            proxy_ms = f"{proxy_cpu[0] * 1000 / trials:.1f}" if proxy_cpu else "-"
            print(
                f"{label:11s} {processes:9d} {rate:9.2f} {errors:6d} {shown:>20s} {pg_ms:>16s} {proxy_ms:>19s}",
                flush=True,
            )
    print(f"load average (1 min) at the end {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
