"""A fake GPU machine for tests: the state file the fake nvidia-smi (tests/fakes/nvidia-smi) answers from."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

FAKES = Path(__file__).parent
FOREIGN_PID = 999_999_999  # above any pid_max: a process nobody here can see, as another user's or container's
GPU_MEMORY_MB = 81_559


def gpu_uuid(index: int) -> str:
    return f"GPU-{index:08x}-1111-2222-3333-{index:012x}"


class FakeMachine:
    """``count`` GPUs; ``occupy``/``free`` change them while tune runs (the file is replaced atomically)."""

    def __init__(self, folder: Path, count: int = 8) -> None:
        self.state_path = folder / "nvidia_smi_state.json"
        self.log_path = folder / "nvidia_smi_calls.log"
        self.gpus = [
            {"index": index, "uuid": gpu_uuid(index), "memory_used": 3, "memory_total": GPU_MEMORY_MB}
            for index in range(count)
        ]
        self.apps: list[dict] = []
        self._write()

    def occupy(self, index: int, *, pid: int = FOREIGN_PID, memory_mb: int = 20_000) -> None:
        """Someone else's compute process on GPU ``index``."""
        self.apps.append({"gpu_uuid": gpu_uuid(index), "pid": pid, "used_memory": memory_mb})
        self.gpus[index]["memory_used"] += memory_mb
        self._write()

    def set_memory(self, index: int, memory_mb: int) -> None:
        """Memory in use on GPU ``index`` with no process listed (another container's, say)."""
        self.gpus[index]["memory_used"] = memory_mb
        self._write()

    def free(self, index: int) -> None:
        self.apps = [app for app in self.apps if app["gpu_uuid"] != gpu_uuid(index)]
        self.gpus[index]["memory_used"] = 3
        self._write()

    def readings(self) -> int:
        """How many times tune read the GPUs' list so far."""
        if not self.log_path.exists():
            return 0
        return sum("--query-gpu" in line for line in self.log_path.read_text().splitlines())

    def _write(self) -> None:
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"gpus": self.gpus, "apps": self.apps}))
        os.replace(temporary, self.state_path)


def install_fake_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int = 8) -> FakeMachine:
    """``count`` fake GPUs behind a fake nvidia-smi first on PATH; nothing of the real machine's GPU setup."""
    machine = FakeMachine(tmp_path, count)
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_STATE", str(machine.state_path))
    monkeypatch.setenv("FAKE_NVIDIA_SMI_LOG", str(machine.log_path))
    for name in ("TUNER_AVAILABLE_GPUS", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"):
        monkeypatch.delenv(name, raising=False)
    return machine


class OutputLines:
    """A process's output, read line by line in a thread, so that a test can wait for a line while it runs."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def having(self, fragment: str) -> list[str]:
        return [line for line in list(self.lines) if fragment in line]

    @property
    def text(self) -> str:
        self._thread.join(timeout=30)
        return "\n".join(self.lines)
