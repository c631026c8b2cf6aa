"""The first page render on a fresh server, then every page warm, in a real browser (issue 13).

Usage: .venv/bin/python bench/first_render.py [--runs 5] [--app-dir DIR ...]

Set-up, not timed: a fresh home under bench/out/first-render/ with the demo model trained
by ``workbench bootstrap --if-allowed``, as ``make run`` does (150,000 synthetic rows by
default). It is trained once and kept as a snapshot; every run starts from a copy of that
snapshot at the same path, so no run sees what an earlier one stored (a global explanation,
an audit event, MLflow's own tables).

Each run: start ``python -m streamlit run app/serve.py`` (``app/main.py`` in a checkout
without it) headless on a free loopback port (embedded defaults, local mode: one person,
no sign-in), time it until ``/_stcore/health`` answers (the warm start is in this span),
then in Debian's chromium (playwright, a new browser context: a first visit) time

- **first render**: from opening the address (right after health answered) until Home's
  script run has finished (``stApp`` reports ``notRunning``) with its metrics shown;
- **first visit** of every other page, clicked in the sidebar as a person would: until the
  page's title is shown and its script run has finished;
- **revisit** of every page, Home included, in a second pass.

Each span is also measured in the server's CPU seconds (user + system, all threads), which
the load of other processes on a shared machine changes far less than the wall clock.
``--pause`` waits on Home before the first click (default 0: every click at once).

``--app-dir`` runs another checkout (e.g. an export of the commit before a change) against
the same snapshot; with several, runs interleave them (A B, B A, ...) so that the load of
this shared machine falls on both alike. The median over runs is printed per checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.ui.pages import PAGE_SPECS  # noqa: E402

OUT = REPO / "bench" / "out" / "first-render"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
DONE = "[data-testid=stApp][data-test-script-state=notRunning]"
TIMEOUT_MS = 120_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_home(home: Path, snapshot: Path) -> None:
    """Train the demo model once (as ``make run`` does); later calls only restore it."""
    if not (snapshot / "mlflow.db").exists():
        shutil.rmtree(home, ignore_errors=True)
        env = {**os.environ, "WORKBENCH_HOME": str(home)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "cli.main", "bootstrap", "--if-allowed"],
            cwd=REPO,
            env=env,
            check=True,
        )
        print(f"bootstrap: {time.perf_counter() - started:.1f} s (not part of any figure)")
        shutil.copytree(home, snapshot)
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(snapshot, home)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_for_health(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("streamlit did not answer /_stcore/health in time")


def heading(title: str) -> str:
    """The page's own title (st.title): the navigation's, except Home's."""
    return "Fraud Workbench" if title == PAGE_SPECS[0][1] else title


def finish(page, title: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page titled ``title`` is shown and its script run has ended."""
    # the end of the text: a title's icon is a ligature word ("monitoring" on Drift)
    page.wait_for_function(
        "t => [...document.querySelectorAll('h1')].some(h => h.innerText.trim().endsWith(t))",
        arg=heading(title),
        timeout=TIMEOUT_MS,
    )
    page.locator(DONE).wait_for(timeout=TIMEOUT_MS)
    if page.locator("[data-testid=stException]").count():
        raise RuntimeError(f"{title}: the page shows an exception")


def visit(page, title: str, pid: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Seconds of wall clock and of server CPU until the page clicked has finished."""
    # the end of the text again: "Monitoring" is also the icon word of "Drift"
    ending = re.compile(re.escape(title) + r"\s*$")
    link = page.locator("[data-testid=stSidebarNav] a", has_text=ending).first
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    link.click()
    finish(page, title)
    return time.perf_counter() - started, cpu_seconds(pid) - cpu


def entry_point(app_dir: Path) -> Path:
    """What ``make run`` serves in that checkout: ``app/serve.py`` where it exists (its warm
    start), else ``app/main.py`` (checkouts before it)."""
    serve = app_dir / "app" / "serve.py"
    return serve if serve.is_file() else app_dir / "app" / "main.py"


def one_run(browser, app_dir: Path, home: Path, log: Path, pause: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    command = [sys.executable, "-m", "streamlit", "run", str(entry_point(app_dir))]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    command += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    figures: dict[str, float] = {}
    with log.open("wb") as out:
        started = time.perf_counter()
        # cwd: the checkout's own packages come first on sys.path (python -m puts cwd there)
        process = subprocess.Popen(command, cwd=app_dir, env=env, stdout=out, stderr=out)
        try:
            wait_for_health(port, process)
            figures["health"] = time.perf_counter() - started
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            figures["cpu: start to health"] = cpu_seconds(process.pid)
            started, cpu = time.perf_counter(), cpu_seconds(process.pid)
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("[data-testid=stMetric]").first.wait_for(timeout=TIMEOUT_MS)
            finish(page, PAGE_SPECS[0][1])
            figures["first render"] = time.perf_counter() - started
            figures["cpu: first render"] = cpu_seconds(process.pid) - cpu
            time.sleep(pause)  # a person reading Home before the first click
            for when, specs in (("first visit", PAGE_SPECS[1:]), ("revisit", PAGE_SPECS)):
                for _name, title, _icon, _needs in specs:
                    wall, cpu = visit(page, title, process.pid)
                    figures[f"{when}: {title}"] = wall
                    figures[f"cpu: {when}: {title}"] = cpu
            context.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds on Home, then click")
    parser.add_argument("--app-dir", type=Path, action="append", help="default: this checkout")
    args = parser.parse_args()
    app_dirs = [d.resolve() for d in (args.app_dir or [REPO])]
    OUT.mkdir(parents=True, exist_ok=True)
    home, snapshot = OUT / "home", OUT / "snapshot"
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict[str, float]]] = {str(d): [] for d in app_dirs}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for run in range(args.runs):
            order = app_dirs if run % 2 == 0 else app_dirs[::-1]
            for app_dir in order:
                prepare_home(home, snapshot)
                log = OUT / f"streamlit-{run}-{app_dirs.index(app_dir)}.log"
                figures = one_run(browser, app_dir, home, log, args.pause)
                results[str(app_dir)].append(figures)
                print(
                    f"run {run + 1} {app_dir}: health {figures['health']:.2f} s, "
                    f"first render {figures['first render']:.2f} s "
                    f"({figures['cpu: first render']:.2f} s server CPU), "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        browser.close()
    shutil.rmtree(home, ignore_errors=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\n{os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.runs} runs; median s")
    print("wall clock, then the server's CPU time (user + system) for the same span")
    keys = list(next(iter(results.values()))[0])
    keys = [k for k in keys if not k.startswith("cpu")] + [k for k in keys if k.startswith("cpu")]
    print(f"{'':34}" + "".join(f"{Path(d).name[-14:]:>16}" for d in results))
    for key in keys:
        medians = [statistics.median(r[key] for r in runs) for runs in results.values()]
        print(f"{key[:34]:34}" + "".join(f"{m:16.2f}" for m in medians))


if __name__ == "__main__":
    main()
