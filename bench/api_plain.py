"""The middle rung for bench/api_latency.py: a plain FastAPI route that validates the 30
fields with pydantic and calls the LightGBM booster, and nothing else (no key, no metrics,
no audit, no request id, no response model).

The booster is read from the LightGBM text file named by ``BENCH_MODEL_FILE`` (the bench
saves the live version's booster there) and predicts on one thread, as the sidecar does for
small inputs. Served by the bench with
``uvicorn bench.api_plain:app --loop uvloop --http httptools --no-access-log``.
"""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
from fastapi import FastAPI
from pydantic import create_model

from core.schema import FEATURES

booster = lgb.Booster(model_file=os.environ["BENCH_MODEL_FILE"])
Transaction = create_model("Transaction", **{name: (float, ...) for name in FEATURES})  # type: ignore[call-overload]
app = FastAPI()


@app.post("/v1/score")
async def score(body: Transaction) -> dict[str, float]:  # type: ignore[valid-type]
    row = np.array([[getattr(body, name) for name in FEATURES]], dtype=np.float64)
    return {"probability": float(booster.predict(row, num_threads=1)[0])}
