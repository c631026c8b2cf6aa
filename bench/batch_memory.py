"""Peak memory of one large upload through the Batch scoring page, against `workbench score`
on the same file as the baseline, in the same run.

Usage: .venv/bin/python bench/batch_memory.py [--rows 1000000] [--runs 2]

Makes (once, under bench/out/batch_memory/) a synthetic CSV of --rows rows (1,000,000 rows
is about 567 MB) and a home with the demo LightGBM model, then per run, in this order:
- page: a fresh `streamlit run app/serve.py` on loopback (as `make run` serves it);
  Debian chromium (playwright, headless) opens /batch, uploads the file and waits for the
  row accounting, the table and the evaluation (the file has Class), then fetches the
  page's "Scored rows (CSV)" link whole (streamed to nothing here); the server's peak RSS
  is its ``VmHWM`` in /proc/<pid>/status, read before it is stopped; its RSS is also
  sampled every 0.2 s and the largest seen is given per phase (upload until the progress
  bar shows, scoring, results, download);
- CLI: `workbench score --data FILE --out OUT` as a subprocess; its peak RSS is its
  ``VmHWM``, read every 0.05 s while it runs.
Each run starts from an empty audit log. Prints every run and the medians as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "batch_memory"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]


def _prepare(rows: int) -> tuple[Path, Path]:
    from core.auth import Actor, Role
    from core.bootstrap import ensure_demo_model
    from core.config import Settings
    from core.data import generate_transactions

    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / f"transactions-{rows}.csv"
    if not data.exists():
        generate_transactions(rows, seed=11).to_csv(data, index=False)
    home = OUT / "home"
    ensure_demo_model(
        Settings(home=home), actor=Actor(name="bench", role=Role.ML_LEAD, mode="bench")
    )
    return data, home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    return {**env, "WORKBENCH_HOME": str(home)}


def _reset(home: Path) -> None:
    for path in home.glob("workbench.db*"):
        path.unlink()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Sampler(threading.Thread):
    """The server's RSS every 0.2 s, and the largest seen in each phase it is told of."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.phase, self.peaks = pid, "upload", {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            rss = _rss_mb(self.pid)
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)


def _page(data: Path, home: Path) -> dict[str, float]:
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "serve.py"),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = (OUT / "streamlit.log").open("wb")
    server = subprocess.Popen(command, env=_env(home), cwd=REPO, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # health answers after the warm start
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        idle_mb = _peak_mb(server.pid)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/batch")
            expect(page.get_by_text("Batch scoring").first).to_be_visible(timeout=120_000)
            ready_mb = _peak_mb(server.pid)
            sampler = _Sampler(server.pid)
            sampler.start()
            start = time.perf_counter()
            page.locator("input[type=file]").set_input_files(str(data))
            # the progress bar shows once the upload is on disk and scoring has begun
            expect(page.get_by_text("Scored ").first).to_be_visible(timeout=1_800_000)
            sampler.phase = "scoring"
            expect(page.get_by_text("rows in the file =").first).to_be_visible(timeout=1_800_000)
            sampler.phase = "results"
            expect(page.get_by_text("Evaluation against the file's labels")).to_be_visible(
                timeout=600_000
            )
            expect(page.get_by_text("scored rows match").first).to_be_visible(timeout=600_000)
            seconds = time.perf_counter() - start
            sampler.phase = "download"
            link = page.get_by_role("link", name="Scored rows (CSV)").get_attribute("href")
            started = time.perf_counter()
            csv_mb = _fetch_mb(f"http://127.0.0.1:{port}{link}")
            download_seconds = time.perf_counter() - started
            browser.close()
        sampler.done.set()
        peak = _peak_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    phases = {f"{k}_rss_mb": round(v) for k, v in sampler.peaks.items()}
    return {
        "peak_mb": peak, "ready_mb": ready_mb, "idle_mb": idle_mb, "seconds": seconds,
        "csv_download_mb": round(csv_mb), "csv_download_seconds": download_seconds, **phases,
    }  # fmt: skip


def _fetch_mb(url: str) -> float:
    """Download ``url`` in 1 MB reads, keeping none of it; its size in MiB."""
    size = 0
    with urllib.request.urlopen(url, timeout=600) as answer:
        while chunk := answer.read(1 << 20):
            size += len(chunk)
    return size / 2**20


def _cli(data: Path, home: Path) -> dict[str, float]:
    out = OUT / "scored.csv"
    command = [sys.executable, "-m", "cli.main", "score", "--data", str(data), "--out", str(out)]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=_env(home), cwd=REPO, stdout=subprocess.DEVNULL)
    # VmHWM, not wait4's ru_maxrss: Linux carries the parent's high-water mark into a
    # child's ru_maxrss across exec (this process held ~900 MB when it had just written
    # the CSV), which inflated the CLI's figure; VmHWM belongs to the new process's memory.
    peak_mb = 0.0
    while process.poll() is None:
        with contextlib.suppress(OSError, RuntimeError):  # it may be exiting
            peak_mb = max(peak_mb, _peak_mb(process.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"workbench score exited {process.returncode}")
    out.unlink(missing_ok=True)
    return {"peak_mb": peak_mb, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", choices=["page", "cli"], help="measure one side only")
    args = parser.parse_args()
    data, home = _prepare(args.rows)
    runs = []
    for _ in range(args.runs):
        nothing = {"peak_mb": float("nan"), "seconds": float("nan")}
        _reset(home)
        page = _page(data, home) if args.only != "cli" else nothing
        _reset(home)
        cli = _cli(data, home) if args.only != "page" else nothing
        runs.append({"page": page, "cli": cli, "load": os.getloadavg()[0]})
        print(json.dumps(runs[-1]), flush=True)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "file_mb": round(data.stat().st_size / 2**20),
                "runs": len(runs),
                "page_peak_mb_median": statistics.median(r["page"]["peak_mb"] for r in runs),
                "cli_peak_mb_median": statistics.median(r["cli"]["peak_mb"] for r in runs),
                "page_seconds_median": statistics.median(r["page"]["seconds"] for r in runs),
                "cli_seconds_median": statistics.median(r["cli"]["seconds"] for r in runs),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GB RAM",
            }
        )
    )


if __name__ == "__main__":
    main()
