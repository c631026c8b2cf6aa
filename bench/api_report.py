"""The tables of bench/api_latency.py, printed as Markdown for bench/README.md."""

from __future__ import annotations

from typing import Any


def print_report(out: dict[str, Any]) -> None:
    """Print the sequential, throughput and breakdown tables of one run's figures."""
    options, seq = out["options"], out["sequential"]
    print(f"\n{out['machine']}; {out['model']['trees']}-tree model; {out['date']}")
    print(f"load average: {out['load_average']}")
    print(
        f"\nSequential: {options['requests']} requests after {options['warmup']} warm-up, "
        f"median of {options['runs']} runs"
    )
    print(
        "| server | p50 ms | p99 ms | errors | mean ms | client CPU ms | server CPU ms |\n"
        "|---|---|---|---|---|---|---|"
    )
    for name in seq["runs"][0]:
        if "/" not in name:
            s = seq[name]
            cpu = (
                f"{s['mean_ms']:.3f} | {s['client_cpu_ms']:.3f} | {s['server_cpu_ms']:.3f}"
                if "mean_ms" in s
                else " | "
            )
            print(f"| {name} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {s['errors']} | {cpu} |")
    for key in (k for k in seq if k.startswith("ours/")):
        per_run = ", ".join(f"{r[key]:.3f}" for r in seq["runs"])
        print(f"{key} p50: median {seq[key]:.3f} (runs: {per_run})")
    print(f"our /metrics: {seq['ours_server_counts']}; sent {seq['ours_requests_sent']}")
    if "throughput" in out:
        _throughput(out)
    for part in out.get("breakdown", []):
        _breakdown(part)
    if out.get("our_server_log_problems"):
        print(f"\nOur servers' logs: {out['our_server_log_problems']}")


def _throughput(out: dict[str, Any]) -> None:
    options = out["options"]
    print(
        f"\nThroughput: wrk -t1 -c{options['connections']} -d{options['duration']}s, "
        f"median of {options['throughput_runs']} runs (CPU: CPU-seconds per second)"
    )
    print(
        "| server | pinning | req/s | errors | p50 ms | p99 ms | wrk CPU | server CPU "
        "| CPU0 busy | CPU1 busy |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for label, t in out["throughput"].items():
        m = t["median_run"]
        busy = " | ".join(f"{b:.0%}" for b in m["core_busy"])
        latency = m["latency_ms"]
        print(
            f"| {label} | {t['pinning']} | {t['requests_per_s_median']:.0f} | "
            f"{t['errors_total']} | {latency.get('50%', float('nan')):.2f} | "
            f"{latency.get('99%', float('nan')):.2f} | {m['client_cpu']:.2f} | "
            f"{m['server_cpu']:.2f} | {busy} |"
        )
    for label, t in out["throughput"].items():
        runs = ", ".join(f"{r:.0f}" for r in t["requests_per_s_runs"])
        p99 = ", ".join(
            f"{r['latency_ms'].get('99%', float('nan')):.1f}" for r in t.get("runs", [])
        )
        print(f"{label}: runs {runs} req/s, p99 {p99} ms")
        if "server_counts_delta" in t:
            print(f"  our /metrics over the runs: {t['server_counts_delta']}")
        if "full_collection_pauses_ms_per_run" in t:
            print(f"  full collections per run, pause ms: {t['full_collection_pauses_ms_per_run']}")


def _breakdown(part: dict[str, Any]) -> None:
    mode = "multiprocess" if part["multiprocess_metrics"] else "single-process"
    print(f"\nIn-process pieces, us per call (prometheus-client {mode}):")
    print("| piece | us | note |\n|---|---|---|")
    for piece in part["pieces"]:
        print(f"| {piece['piece']} | {piece['us']:.1f} | {piece['note']} |")
    print("\nThrough ASGI, no socket, us per request:")
    print("| app | us | step |\n|---|---|---|")
    previous = None
    for rung in part["ladder"]:
        step = "" if previous is None else f"{rung['us'] - previous:+.1f}"
        print(f"| {rung['rung']} | {rung['us']:.1f} | {step} |")
        previous = rung["us"]
    asgi = part["asgi_us"]
    print(f"| (bench/api_plain.py) | {asgi['plain']:.1f} | |")
    print(f"| (bench/api_bare.py) | {asgi['bare']:.1f} | |")
    if "bare_beside_ours" in asgi:
        background = asgi["ours"] - asgi["bare_beside_ours"] - (asgi["ours-hourly"] - asgi["bare"])
        print(
            f"| the sidecar as configured (flush 1 s, keys and alias 5 s), second phase | "
            f"{asgi['ours']:.1f} | bare beside it {asgi['bare_beside_ours']:.1f}; background "
            f"work {background:+.1f} against the hourly sidecar |"
        )
    if "predict_us" in part:
        predict = part["predict_us"]
        print(
            f"booster.predict, 1 row: {predict['back_to_back']:.1f} us back to back, "
            f"{predict['after_a_request']:.1f} us right after a request (caches disturbed)"
        )
    if "gc" in part:
        print(f"garbage collections during {part['gc']['requests']} requests to ours: {part['gc']}")
