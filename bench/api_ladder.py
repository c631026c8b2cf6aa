"""A ladder of FastAPI apps from the bare route to the sidecar, one piece added per rung,
for bench/api_breakdown.py: the difference between two rungs called through ASGI is what
that piece costs on the request path, framework work included (dependency solving, the
request object, response validation), which timing the piece alone would miss.

Every rung uses the sidecar's own parts: the transaction model of ``api.schemas``, the key
dependency of ``api.security`` over a real key cache, ``api.metrics.ServingMiddleware`` and
the error handlers of ``api.errors``. The last rung is ``api.app.create_app`` itself.

(No ``from __future__ import annotations``: the routes' annotations are objects built here,
which FastAPI must see as objects, as in ``api.routes``.)
"""

import uuid
from typing import Any

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from api.errors import install_error_handlers
from api.metrics import ServingMiddleware, request_id
from api.routes import Explain, features_of
from api.runtime import Runtime
from api.schemas import ModelRef, ScoreOut, transaction_model
from api.security import key_with_scope
from core.apikeys import ApiKeyInfo
from core.serving import LiveModel


def build_ladder(runtime: Runtime, live: LiveModel) -> list[tuple[str, FastAPI]]:
    """The rungs, cheapest first: (what this rung adds, its app).

    ``runtime`` must have its keys loaded (``runtime.refresh_keys()``); nothing is started.
    """
    transaction: Any = transaction_model(unknown_fields=runtime.settings.api_unknown_fields)
    booster = live.model.estimator
    scorer = Depends(key_with_scope(runtime, "score"))

    def predict(body: BaseModel) -> float:
        return float(booster.predict(features_of([body]), num_threads=1)[0])

    def respond(body: BaseModel, rid: str) -> ScoreOut:
        probability = predict(body)
        alert = probability >= live.threshold
        return ScoreOut(
            transaction_id=getattr(body, "transaction_id", None),
            probability=probability,
            decision="alert" if alert else "no_alert",
            alert=alert,
            request_id=rid,
            threshold=live.threshold,
            model=ModelRef(name=live.name, version=live.version, alias=live.alias),
        )

    bare = FastAPI()

    @bare.post("/v1/score")
    async def constant() -> dict[str, float]:
        return {"probability": 0.5}

    body_app = FastAPI()

    @body_app.post("/v1/score")
    async def body_only(body: transaction) -> dict[str, float]:
        return {"probability": 0.5}

    predict_app = FastAPI()

    @predict_app.post("/v1/score")
    async def with_predict(body: transaction) -> dict[str, float]:
        return {"probability": predict(body)}

    key_app = FastAPI()

    @key_app.post("/v1/score")
    async def with_key(body: transaction, key: ApiKeyInfo = scorer) -> dict[str, float]:
        return {"probability": predict(body)}

    params_app = FastAPI()

    @params_app.post("/v1/score")
    async def with_params(
        body: transaction, request: Request, explain: Explain = False, key: ApiKeyInfo = scorer
    ) -> dict[str, float]:
        return {"probability": predict(body)}

    response_app = FastAPI()

    @response_app.post("/v1/score", response_model=ScoreOut)
    async def with_response(
        body: transaction, request: Request, explain: Explain = False, key: ApiKeyInfo = scorer
    ) -> ScoreOut:
        return respond(body, uuid.uuid4().hex)

    middleware_app = FastAPI()

    @middleware_app.post("/v1/score", response_model=ScoreOut)
    async def with_middleware(
        body: transaction, request: Request, explain: Explain = False, key: ApiKeyInfo = scorer
    ) -> ScoreOut:
        return respond(body, request_id(request.scope) or "")

    install_error_handlers(middleware_app)
    middleware_app.add_middleware(
        ServingMiddleware, max_body_bytes=runtime.settings.api_max_body_bytes
    )
    return [
        ("bare route, constant", bare),
        ("+ body: JSON parse + the 30-field model (FastAPI body param)", body_app),
        ("+ features_of + booster.predict (1 row, 1 thread)", predict_app),
        ("+ key: Security(HTTPBearer) dependency + authenticate", key_app),
        ("+ Request and ?explain query params", params_app),
        ("+ response_model ScoreOut (build, validate, dump)", response_app),
        ("+ ServingMiddleware (id, body limit, metrics) + error handlers", middleware_app),
    ]
