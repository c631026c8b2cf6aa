"""The floor for bench/api_latency.py: a bare FastAPI route that returns a constant.

It reads nothing (no body, no header), validates nothing and calls no model: what is left is
the client, loopback, uvicorn (uvloop + httptools, as ``workbench serve-api``), Starlette's
routing and a small JSON response. Served by the bench with
``uvicorn bench.api_bare:app --loop uvloop --http httptools --no-access-log``.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/score")
async def score() -> dict[str, float]:
    return {"probability": 0.5}
