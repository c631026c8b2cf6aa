"""The Compare versions page for 3 versions on a 57,000-row evaluation set (target: at most
3 s once the versions' models are loaded).

Usage: .venv/bin/python bench/compare_page.py [--runs 5]

Same set-up as bench/compare_speed.py (3 versions trained on synthetic data in a scratch
home, a 57,000-row synthetic evaluation CSV keeping a tenth of the legitimate rows). The
page runs in-process through Streamlit's AppTest, as a person would use it: the three
versions chosen, the CSV uploaded with its sampling fraction. Each timed run clears the
page's caches (the parsed upload, the leakage checks, the comparison) and core's score
cache, so it parses the file, checks leakage, scores 57,000 rows with each version, runs
1,000 paired bootstrap resamples, draws the curves and builds the decision diff; the
models themselves stay loaded. A second set keeps the parsed upload and the leakage
checks (cached per file, as after the first render) and clears the rest. Baseline, in
the same run: core's ``compare_versions`` alone on the same rows (scoring included).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.compare_speed import FRACTION, ROWS, _setup  # noqa: E402
from core.compare import compare_versions, load_evaluation  # noqa: E402
from core.compare.compare import clear_score_cache  # noqa: E402
from core.config import Settings, get_settings  # noqa: E402
from core.data import generate_transactions  # noqa: E402
from core.registry import get_version, load_model  # noqa: E402

OUT = REPO / "bench" / "out" / "compare-page"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    settings = Settings(home=OUT / "home", model_name="compare-page-bench")
    versions = _setup(settings)
    data = OUT / "evaluation.csv"
    generate_transactions(ROWS, seed=9, start_time=200_000).to_csv(data, index=False)
    for version in versions:  # "after the versions' models are loaded"
        load_model(settings, get_version(settings, version, with_metrics=False))

    os.environ.update(
        WORKBENCH_HOME=str(settings.home),
        WORKBENCH_MODEL_NAME=settings.model_name,
        WORKBENCH_LOCAL_USER="bench",
    )
    get_settings.cache_clear()
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    from app.ui import compare_view

    config.set_option("server.address", "127.0.0.1")
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=300).run()
    at.switch_page(str(REPO / "pages" / "compare.py")).run()
    at.multiselect[0].set_value(versions).run()
    at.radio[0].set_value("file").run()
    at.file_uploader[0].set_value(("evaluation.csv", data.read_bytes(), "text/csv")).run()
    at.number_input[0].set_value(FRACTION).run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    shown = at.subheader[0].value  # "Decisions that differ: N of 57,000 rows"

    page = []
    for _ in range(args.runs):
        for cached in (compare_view.file_evaluation, compare_view.leakage, compare_view.comparison):
            cached.clear()
        clear_score_cache()
        start = time.perf_counter()
        at.run()
        page.append(time.perf_counter() - start)
        assert not at.exception and not at.error
    rerender = []  # the upload already parsed and checked: choosing versions, say
    for _ in range(args.runs):
        compare_view.comparison.clear()
        clear_score_cache()
        start = time.perf_counter()
        at.run()
        rerender.append(time.perf_counter() - start)
        assert not at.exception and not at.error
    core = []
    evaluation = load_evaluation(settings, path=data, sampling_fraction=FRACTION)
    for _ in range(args.runs):
        clear_score_cache()
        start = time.perf_counter()
        compare_versions(settings, evaluation, versions, resamples=1000, seed=0)
        core.append(time.perf_counter() - start)

    print(f"{shown}; 3 versions, {args.runs} runs each")
    print("| path | median s | / core |")
    print("|---|---|---|")
    baseline = statistics.median(core)
    print(f"| core compare_versions, scoring included (baseline) | {baseline:.2f} | 1.00 |")
    print(
        f"| Compare versions page, whole render | {statistics.median(page):.2f} | "
        f"{statistics.median(page) / statistics.median(core):.2f} |"
    )
    print(
        f"| the same page, upload already parsed and leakage checked | "
        f"{statistics.median(rerender):.2f} | {statistics.median(rerender) / baseline:.2f} |"
    )
    print("all runs: page " + ", ".join(f"{t:.2f}" for t in page))
    print("all runs: re-render " + ", ".join(f"{t:.2f}" for t in rerender))
    print("all runs: core " + ", ".join(f"{t:.2f}" for t in core))
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
