"""Servers and load for bench/api_latency.py: start a server on a free loopback port and
wait for it, stop it, count the CPU its processes use, time requests one after another with
``requests``, drive it with Debian's wrk, and read our server's /metrics.

Imported by bench/api_latency.py only (no project imports: the servers are subprocesses).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROUTES = {  # server kind: (scoring path, readiness path)
    "ours": ("/v1/score", "/ready"),
    "mlflow": ("/invocations", "/ping"),
    "bare": ("/v1/score", "/openapi.json"),
    "plain": ("/v1/score", "/openapi.json"),
    "ours-gc": ("/v1/score", "/ready"),
}


def server_command(kind: str, port: int, *, model_uri: str, workers: int = 1) -> list[str]:
    """The command line of one kind of server on 127.0.0.1:``port``."""
    python, where = sys.executable, f"--host 127.0.0.1 --port {port}"
    if kind == "ours":  # this checkout's CLI (PYTHONPATH), as `workbench serve-api`
        args = f"-m cli.main serve-api {where} --workers {workers} --log-level warning"
        return [python, *args.split()]
    if kind == "mlflow":  # its own uvicorn (uvloop + httptools), its default options
        args = f"--env-manager local -h 127.0.0.1 -p {port}"
        return [
            str(Path(python).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            model_uri,
            *args.split(),
        ]
    if kind == "ours-gc":  # the sidecar's app without the CLI, its collections logged
        args = f"-m uvicorn bench.api_gc:create_app --factory {where} --loop uvloop"
        return [python, *args.split(), "--http", "httptools", "--no-access-log"]
    args = f"-m uvicorn bench.api_{kind}:app {where} --loop uvloop --http httptools"
    return [python, *args.split(), "--no-access-log", "--log-level", "warning"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A server subprocess in its own process group, and where it answers."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    path: str  # the scoring route
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def pids(self) -> list[int]:
        """The server's process and every descendant (uvicorn's workers, mlflow's uvicorn)."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's processes so far."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def stop(self) -> None:
        """SIGTERM to the group (a clean stop flushes our audit records), SIGKILL after 30 s."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_server(
    name: str,
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    logs: Path,
    port: int,
    path: str,
    ready: str,
    pin: str | None = None,
    timeout: float = 180.0,
) -> Server:
    """Start ``command`` (pinned to the CPUs ``pin`` with taskset) and wait until GET
    ``ready`` answers 200.

    Raises:
        RuntimeError: the server exited or did not get ready; its log's tail says why.
    """
    log = logs / f"{name}.log"
    prefix = ["taskset", "-c", pin] if pin else []
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*prefix, *command],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stop() ends its workers too
        )
    server = Server(name, process, port, path, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"http://127.0.0.1:{port}{ready}", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.25)
    server.stop()
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{name} did not get ready on port {port}:\n{tail}")


def core_busy() -> list[tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat."""
    out = []
    for line in Path("/proc/stat").read_text().splitlines():
        if re.match(r"cpu\d+ ", line):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]  # idle + iowait
            out.append((sum(values) - idle, sum(values)))
    return out


WRK_SCRIPT = """
local bodies = {%s}
local headers = {%s}
local built = {}
local n = 0
init = function(args)
  for i, body in ipairs(bodies) do
    built[i] = wrk.format("POST", nil, headers, body)
  end
end
request = function()
  n = n %% #built + 1
  return built[n]
end
"""


def write_wrk_script(target: Path, bodies: list[str], headers: dict[str, str]) -> Path:
    """A Lua script that POSTs the bodies in turn with the headers (built once per thread)."""

    def lua(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    body_list = ", ".join(lua(b) for b in bodies)
    header_list = ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in headers.items())
    target.write_text(WRK_SCRIPT % (body_list, header_list))
    return target


@dataclass
class WrkResult:
    """What wrk reported, and the CPU each side used while it ran."""

    requests_per_s: float
    requests: int
    non_2xx: int
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]  # "50%", "75%", "90%", "99%"
    client_cpu: float  # CPU-seconds per second of wall time
    server_cpu: float
    core_busy: list[float] = field(default_factory=list)  # share of each CPU busy, 0-1

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(text: str) -> tuple[float, int, int, dict[str, int], dict[str, float]]:
    """Requests/s, requests, non-2xx/3xx responses, socket errors and the latency
    percentiles (ms) from wrk's ``--latency`` output.

    Raises:
        ValueError: the output has no request rate (wrk failed).
    """
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    count = re.search(r"(\d+) requests in", text)
    if rate is None or count is None:
        raise ValueError(f"wrk's output has no request rate:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    names = ("connect", "read", "write", "timeout")
    latency = {
        f"{m[1]}%": float(m[2]) * _UNITS[m[3]]
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    }
    return (
        float(rate[1]),
        int(count[1]),
        int(non_2xx[1]) if non_2xx else 0,
        dict(zip(names, (int(v) for v in sockets.groups()), strict=True))
        if sockets
        else dict.fromkeys(names, 0),
        latency,
    )


def run_wrk(
    server: Server,
    script: Path,
    *,
    connections: int,
    duration: int,
    pin: str | None,
) -> WrkResult:
    """One wrk run (one thread, ``connections`` keep-alive connections) against ``server``."""
    prefix = ["taskset", "-c", pin] if pin else []
    command = [
        *prefix,
        *("wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script)),
        server.url,
    ]
    server_before, cores_before = server.cpu_seconds(), core_busy()
    client_before = os.times()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    client_after = os.times()
    server_after, cores_after = server.cpu_seconds(), core_busy()
    client = (client_after.children_user - client_before.children_user) + (
        client_after.children_system - client_before.children_system
    )
    rate, count, non_2xx, sockets, latency = parse_wrk(done.stdout)
    return WrkResult(
        requests_per_s=rate,
        requests=count,
        non_2xx=non_2xx,
        socket_errors=sockets,
        latency_ms=latency,
        client_cpu=client / wall,
        server_cpu=(server_after - server_before) / wall,
        core_busy=[
            (b1 - b0) / max(1, t1 - t0)
            for (b0, t0), (b1, t1) in zip(cores_before, cores_after, strict=True)
        ],
    )


def time_sequential(
    server: Server, bodies: list[str], headers: dict[str, str], *, warmup: int, count: int
) -> dict[str, Any]:
    """p50 / p99 (ms) of ``count`` requests one after another, after ``warmup`` ones, and
    the CPU the client (this process) and the server's processes used per timed request."""
    session = requests.Session()
    times, errors = [], 0
    for i in range(warmup + count):
        if i == warmup:
            client_cpu, server_cpu, wall = time.process_time(), server.cpu_seconds(), time.time()
        started = time.perf_counter()
        try:
            response = session.post(server.url, data=bodies[i % len(bodies)], headers=headers)
            ok = response.status_code == 200
        except requests.RequestException:
            ok = False
        elapsed = time.perf_counter() - started
        errors += not ok
        if i >= warmup:
            times.append(elapsed * 1000)
    client_cpu = (time.process_time() - client_cpu) / count * 1000
    server_cpu = (server.cpu_seconds() - server_cpu) / count * 1000
    mean = (time.time() - wall) / count * 1000
    session.close()
    p50, p99 = np.percentile(times, [50, 99])
    return {
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "mean_ms": mean,
        "client_cpu_ms": client_cpu,
        "server_cpu_ms": server_cpu,
        "errors": errors,
    }


def our_counts(server: Server) -> dict[str, float]:
    """From our /metrics: /v1/score requests by status, and audit records stored / spooled."""
    out: dict[str, float] = {}
    text = requests.get(server.url.replace("/v1/score", "/metrics")).text
    for line in text.splitlines():
        name, value = line.split("{")[0].split(" ")[0], line.rsplit(" ", 1)[-1]
        if name == "workbench_api_requests_total" and 'route="/v1/score"' in line:
            status = "status_" + line.split('status="')[1].split('"')[0]
            out[status] = out.get(status, 0) + float(value)
        elif name in ("workbench_api_audit_records_total", "workbench_api_audit_spooled_total"):
            out[name] = float(value)
    return out
