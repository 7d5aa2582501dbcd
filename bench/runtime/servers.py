"""The servers under test: how each is started, how we know it is up, and how it is stopped.

Every server runs as its own process group on a free loopback port with the same worker count,
and is checked for a right answer before any load is sent, so a server that fails fast can never
pass for a fast one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from typing_extensions import Self
from load import group_cpu_seconds, pinned
from workload import HERE, MODEL_NAME, Workload

# Variables that would point a server at something other than what the spec says.
_SCRUBBED = ("AZUREML_MODEL_DIR", "AZUREML_ENTRY_SCRIPT", "AML_APP_ROOT", "WORKER_COUNT", "SERVER_PORT")


@dataclass(frozen=True)
class ServerSpec:
    """One server + score script combination: a row group in the results table.

    ``argv`` and ``env`` values may contain ``{port}``; it is filled in at start.
    """

    server: str
    scenario: str
    workload: Workload
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.server}/{self.scenario}"


class RunningServer:
    """A started server; use as a context manager so it is always stopped."""

    def __init__(self, spec: ServerSpec, log_dir: Path, ready_timeout_s: float = 120.0,
                 cpus: set[int] | None = None) -> None:
        self.spec = spec
        self.cpus = cpus  # run the server (and its workers) on these CPUs only
        self.port = _free_port()
        self.log_path = log_dir / f"{spec.server}-{spec.scenario}.log"
        self.ready_timeout_s = ready_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's main process (valgrind's, when the spec runs the server under it)."""
        if self._process is None:
            raise RuntimeError(f"{self.spec.label} is not running")
        return self._process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.spec.workload.path}"

    def __enter__(self) -> Self:
        env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED}
        env.update({key: value.format(port=self.port) for key, value in self.spec.env.items()})
        argv = [arg.format(port=self.port) for arg in self.spec.argv]
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            self._process = subprocess.Popen(
                argv, env=env, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=pinned(self.cpus),
            )
        try:
            self._wait_until_up()
            self._check_answer()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # the group we started: gunicorn/uvicorn workers too
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by every live process of the server's group.

        Unlike req/s, CPU per request barely moves when other programs compete for the cores,
        so it still compares servers on a busy machine. Linux only (reads /proc); None elsewhere.
        """
        return None if self._process is None else group_cpu_seconds(self._process.pid)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.spec.label} exited with {self._process.returncode}; {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.spec.label} not up after {self.ready_timeout_s:.0f}s; {self._log_tail()}")

    def _check_answer(self) -> None:
        workload = self.spec.workload
        request = urllib.request.Request(
            self.url, data=workload.body, method="POST", headers={"Content-Type": "application/json"}
        )
        for _ in range(3):  # every worker should have loaded; a few tries catch most of them
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, payload = error.code, error.read()
            problem = workload.check(status, payload)
            if problem:
                raise RuntimeError(f"{self.spec.label} answered POST {workload.path} wrongly: {problem}")

    def _log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"last log lines ({self.log_path}):\n" + "\n".join(text)


def build_specs(
    model_dir: Path, azml_bin: Path | None, workers: int, workloads: dict[str, Workload]
) -> list[ServerSpec]:
    """All servers the benchmark knows, in the order they run (azmlinfsrv's only with its *azml_bin*)."""
    python = sys.executable
    shipyard_env = {
        "SHIPYARD_HOST": "127.0.0.1",
        "SHIPYARD_PORT": "{port}",
        "SHIPYARD_WORKERS": str(workers),
        "SHIPYARD_MODEL_DIR": str(model_dir),
        "SHIPYARD_MODEL_NAME": MODEL_NAME,
    }
    azml_env = {"PATH": f"{azml_bin}{os.pathsep}{os.environ.get('PATH', '')}", "AZUREML_MODEL_DIR": str(model_dir)}

    def shipyard(scenario: str, script: str | None, mode: str = "auto") -> ServerSpec:
        env = dict(shipyard_env, SHIPYARD_SCORING_MODE=mode)
        if script:
            env["SHIPYARD_ENTRY_SCRIPT"] = str(HERE / script)
        name = "shipyard" if mode == "auto" else f"shipyard-{mode}"
        return ServerSpec(name, scenario, workloads[scenario], (python, "-m", "shipyard.runtime"), env)

    def azml(scenario: str, script: str) -> ServerSpec:
        argv = (
            str(azml_bin / "azmlinfsrv"), "--entry_script", str(HERE / script), "--model_dir", str(model_dir),
            "--port", "{port}", "--worker_count", str(workers),
        )  # fmt: skip
        return ServerSpec("azmlinfsrv", scenario, workloads[scenario], argv, azml_env)

    floor = ServerSpec(
        "uvicorn-floor",
        "constant",
        workloads["constant"],
        (
            python, "-m", "uvicorn", "floor_app:app", "--app-dir", str(HERE), "--host", "127.0.0.1",
            "--port", "{port}", "--workers", str(workers), "--loop", "auto", "--http", "auto",
            "--no-access-log", "--log-level", "warning",
        ),
    )  # fmt: skip
    specs = [
        shipyard("score", "score_onnx.py"),
        azml("score", "score_onnx.py") if azml_bin else None,
        floor,
        shipyard("constant", "score_constant.py"),
        azml("constant", "score_constant.py") if azml_bin else None,
        shipyard("v2-infer", None),
        shipyard("constant", "score_constant.py", mode="thread"),  # what auto mode saves
    ]
    return [spec for spec in specs if spec is not None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
