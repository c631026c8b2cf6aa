"""The routes: scoring, the live model, reload, and the open health, ready and metrics.

The request path scores with the version's native model on a numpy row (no pyfunc, no
DataFrame), reads the live model once and uses it to the end, and hands the scored rows to
the audit recorder, which writes them in the background.

(No ``from __future__ import annotations`` here: the transaction model is built per app, so
FastAPI must see the annotations as objects, not names.)
"""

import time
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, create_model, model_validator

from api import metrics
from api.runtime import Runtime
from api.schemas import (
    BatchScoreOut,
    ErrorOut,
    HealthOut,
    ModelOut,
    ModelRef,
    ReadyOut,
    ReasonOut,
    ReloadOut,
    ScoreItem,
    ScoreOut,
    transaction_model,
)
from api.security import key_with_scope
from core.apikeys import ApiKeyInfo
from core.errors import ExplanationUnavailableError, InputError
from core.explain import Reason, compute_reasons, reasons_to_json
from core.schema import FEATURES, scale_text
from core.serving import LiveModel

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "The body cannot be read (not UTF-8 text)."),
        (401, "No API key, or not a valid one."),
        (403, "The key lacks the scope this needs."),
        (413, "The body is too large."),
        (422, "A field is missing, not a finite number, or unknown."),
        (503, "No live model loaded yet, or keys cannot be checked."),
    )
}
Explain = Annotated[bool, Query(description="Add the reason codes (top features toward fraud).")]


def model_ref(live: LiveModel) -> ModelRef:
    return ModelRef(
        name=live.name,
        version=live.version,
        alias=live.alias,
        probability_scale=live.model.probability_scale,
        time_feature=live.model.adapter.time_feature,
    )


def model_out(live: LiveModel, problem: str | None) -> ModelOut:
    return ModelOut(
        name=live.name,
        alias=live.alias,
        version=live.version,
        kind=live.model.kind,
        probability_scale=live.model.probability_scale,
        # from the loaded artifact's scale, as probability_scale: the tag could differ
        probability_scale_text=scale_text(
            live.model.probability_scale, live.info.sampling_fraction
        ),
        time_feature=live.model.adapter.time_feature,
        threshold=live.threshold,
        metrics=live.info.metrics,
        loaded_at=live.loaded_at,
        explainable=live.model.explanation_problem is None,
        reload_problem=problem,
    )


def features_of(rows: list[BaseModel]) -> np.ndarray:
    """The (rows, 30) float64 array in schema order."""
    return np.array([[getattr(row, name) for name in FEATURES] for row in rows], dtype=np.float64)


def explain_rows(
    live: LiveModel, features: np.ndarray
) -> tuple[list[list[Reason]] | None, str | None]:
    """Reason codes per row, or None and why the version gives none."""
    problem = live.model.explanation_problem
    if problem is not None:
        return None, problem
    try:
        contributions = live.model.contributions(features)
    except ExplanationUnavailableError as exc:
        return None, str(exc)
    return compute_reasons(contributions, features), None


def score_rows(
    runtime: Runtime,
    request: Request,
    key: ApiKeyInfo,
    rows: list[BaseModel],
    *,
    with_reasons: bool,
) -> tuple[LiveModel, list[ScoreItem]]:
    """Score, explain (when asked), count and queue for the audit log: shared by the routes."""
    live = runtime.require_live()  # once: the whole request uses this version
    features = features_of(rows)
    try:
        probability, decision = live.score(features)
    except ValueError as exc:  # e.g. a scikit-learn scaler overflowing on a huge value
        raise InputError(f"version {live.version} cannot score these values: {exc}") from exc
    reasons, problem = explain_rows(live, features) if with_reasons else (None, None)
    ids = [getattr(row, "transaction_id", None) for row in rows]
    runtime.recorder.record(
        live,
        actor=key.name,
        features=features,
        probability=probability,
        decision=decision,
        transaction_ids=ids,
        reasons=[reasons_to_json(row) for row in reasons] if reasons else None,
        latency_ms=1000 * (time.perf_counter() - metrics.request_started(request.scope)),
    )
    alerts = int(decision.sum())
    if alerts:
        metrics.PREDICTIONS.labels("alert").inc(alerts)
    if len(decision) - alerts:
        metrics.PREDICTIONS.labels("no_alert").inc(len(decision) - alerts)
    items = [
        ScoreItem(
            transaction_id=ids[i],
            probability=float(probability[i]),
            decision="alert" if decision[i] else "no_alert",
            alert=bool(decision[i]),
            reasons=[_reason_out(r) for r in reasons[i]] if reasons else None,
            explanation_problem=problem,
        )
        for i in range(len(rows))
    ]
    return live, items


def _reason_out(r: Reason) -> ReasonOut:
    return ReasonOut(feature=r.feature, value=r.value, contribution=r.contribution)


def too_many_rows(rows: int, limit: int) -> HTTPException:
    return HTTPException(
        413,
        f"{rows:,} transactions in one request; at most {limit:,} (WORKBENCH_API_MAX_BATCH_ROWS)",
    )


def row_limit(limit: int) -> Any:
    """A validator that refuses a batch over ``limit`` rows before any row is validated
    (validating many bad rows first would cost seconds and a huge error list)."""

    def check(cls: type, data: Any) -> Any:
        rows = data.get("transactions") if isinstance(data, dict) else None
        if isinstance(rows, list) and len(rows) > limit:
            raise too_many_rows(len(rows), limit)  # not a ValueError: pydantic passes it on
        return data

    return model_validator(mode="before")(check)


def build_router(runtime: Runtime) -> APIRouter:
    """Every route of the sidecar, bound to one worker's runtime."""
    settings = runtime.settings
    transaction = transaction_model(unknown_fields=settings.api_unknown_fields)
    batch = create_model(
        "TransactionBatch",
        transactions=(list[transaction], Field(min_length=1)),  # type: ignore[valid-type]
        __doc__=f"Up to {settings.api_max_batch_rows:,} transactions "
        "(WORKBENCH_API_MAX_BATCH_ROWS).",
        __validators__={"limit": row_limit(settings.api_max_batch_rows)},
    )
    scorer = Depends(key_with_scope(runtime, "score"))
    admin = Depends(key_with_scope(runtime, "admin"))
    router = APIRouter()

    @router.post("/v1/score", response_model=ScoreOut, responses=ERRORS, tags=["scoring"])
    async def score(
        body: transaction,  # type: ignore[valid-type]
        request: Request,
        explain: Explain = False,
        key: ApiKeyInfo = scorer,
    ) -> ScoreOut:
        """Score one transaction against the live model."""
        live, items = score_rows(runtime, request, key, [body], with_reasons=explain)
        return ScoreOut(
            **items[0].__dict__,
            request_id=metrics.request_id(request.scope) or "",
            threshold=live.threshold,
            model=model_ref(live),
        )

    @router.post(
        "/v1/score/batch", response_model=BatchScoreOut, responses=ERRORS, tags=["scoring"]
    )
    def score_batch(
        body: batch,  # type: ignore[valid-type]
        request: Request,
        explain: Explain = False,
        key: ApiKeyInfo = scorer,
    ) -> BatchScoreOut:
        """Score a list of transactions; the answer keeps their order."""
        rows = body.transactions
        live, items = score_rows(runtime, request, key, rows, with_reasons=explain)
        return BatchScoreOut(
            request_id=metrics.request_id(request.scope) or "",
            model=model_ref(live),
            threshold=live.threshold,
            alerts=sum(item.alert for item in items),
            results=items,
        )

    @router.get("/v1/model", response_model=ModelOut, responses=ERRORS, tags=["model"])
    async def model(key: ApiKeyInfo = scorer) -> ModelOut:
        """The live model: name, alias, version, threshold, metrics, when it was loaded."""
        return model_out(runtime.require_live(), runtime.watcher.problem)

    @router.post("/v1/reload", response_model=ReloadOut, responses=ERRORS, tags=["model"])
    async def reload(key: ApiKeyInfo = admin) -> ReloadOut:
        """Look at the live alias and threshold now (needs the admin scope)."""
        changed = await run_in_threadpool(runtime.watcher.check, force=True)
        live = runtime.live
        problem = runtime.watcher.problem
        return ReloadOut(
            changed=changed, model=model_out(live, problem) if live else None, problem=problem
        )

    @router.get("/health", response_model=HealthOut, tags=["operations"])
    async def health() -> HealthOut:
        """The process is alive."""
        return HealthOut(status="ok")

    @router.get(
        "/ready",
        response_model=ReadyOut,
        responses={503: {"model": ReadyOut, "description": "No model loaded yet."}},
        tags=["operations"],
    )
    async def ready(response: Response) -> ReadyOut:
        """A model is loaded and the keys were read. The database is reported but does not
        gate readiness (audit records spool while it is down)."""
        live = runtime.live
        problem = runtime.ready_problem
        if problem is not None:
            response.status_code = 503
        return ReadyOut(
            ready=problem is None,
            model=model_ref(live) if live else None,
            problem=problem or runtime.watcher.problem,
            database="ok" if runtime.database_problem is None else "unreachable",
            database_problem=runtime.database_problem,
            audit_spool_pending=runtime.spool_pending(),
            audit_problem=runtime.recorder.problem,
            audit_dropped=runtime.recorder.dropped,
        )

    @router.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}},
    )
    def prometheus() -> Response:
        """Prometheus metrics (summed over workers)."""
        body, content_type = metrics.render_metrics()
        return Response(body, media_type=content_type)

    return router
