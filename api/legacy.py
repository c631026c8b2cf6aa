"""``POST /predict``: the path the earlier prototypes' clients call, kept so they can move
to ``/v1/score`` at their own pace (deprecated; it answers with a ``Deprecation`` header).

It takes the three bodies those clients send:

- ``{"features": [30 numbers]}`` in schema order (Time, V1..V28, Amount);
- a flat object of the 30 named fields;
- ``{"data": [{...}, ...]}``, a list of such objects;

and answers ``prediction`` (0/1) and ``fraud_probability`` (lists for ``data``), plus the
model version. Extra fields (ids, ``Class``) are ignored. It needs the same API key as
``/v1/score`` and is audited like it.

(No ``from __future__ import annotations``: see ``api.routes``.)
"""

import math
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ValidationError

from api.routes import ERRORS, score_rows, too_many_rows
from api.runtime import Runtime
from api.schemas import LIMIT, LegacyOut, transaction_model
from api.security import key_with_scope
from core.apikeys import ApiKeyInfo
from core.errors import InputError
from core.schema import FEATURES, NON_NEGATIVE


def _number(name: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0 if name in NON_NEGATIVE else -LIMIT, "maximum": LIMIT}


_ROW = {
    "type": "object",
    "description": "The 30 named fields (Time, V1..V28, Amount); others are ignored.",
    "properties": {name: _number(name) for name in FEATURES},
    "required": list(FEATURES),
}
_BODY_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "title": "features",
            "properties": {
                "features": {
                    "type": "array",
                    "prefixItems": [_number(name) for name in FEATURES],
                    "items": False,
                    "minItems": len(FEATURES),
                    "maxItems": len(FEATURES),
                    "description": "Time, V1..V28, Amount in this order.",
                }
            },
            "required": ["features"],
        },
        {**_ROW, "title": "named fields"},
        {
            "type": "object",
            "title": "data",
            "properties": {"data": {"type": "array", "items": _ROW, "minItems": 1}},
            "required": ["data"],
        },
    ]
}


class LegacyInputError(InputError):
    """A /predict body that is none of the three shapes, or holds a bad value; ``problems``
    lists them like a validation error."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


def _problems(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join([prefix, *(str(p) for p in e["loc"])]).strip("."),
            "message": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]


def _finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float (JSON allows 400 digits)
        return False


def parse_legacy_body(
    body: Any, row_model: type[BaseModel], *, max_rows: int
) -> tuple[list[BaseModel], bool]:
    """The transactions in a /predict body, and whether it was the ``data`` list shape.

    Raises:
        LegacyInputError: not one of the shapes, or a value is missing or not finite.
        HTTPException: 413, more than ``max_rows`` transactions (before any is validated).
    """
    if not isinstance(body, dict):
        raise LegacyInputError(
            [{"field": "body", "message": "expected a JSON object", "type": "object_type"}]
        )
    if "features" in body:
        values = body["features"]
        if not isinstance(values, list) or len(values) != len(FEATURES):
            raise LegacyInputError(
                [
                    {
                        "field": "features",
                        "message": f"expected a list of {len(FEATURES)} numbers "
                        "(Time, V1..V28, Amount)",
                        "type": "list_length",
                    }
                ]
            )
        bad = [i for i, v in enumerate(values) if not _finite_number(v)]
        if bad:
            raise LegacyInputError(
                [
                    {
                        "field": f"features[{i}] ({FEATURES[i]})",
                        "message": f"{values[i]!r} is not a finite number",
                        "type": "finite_number",
                    }
                    for i in bad
                ]
            )
        body = dict(zip(FEATURES, values, strict=True))
    if "data" in body:
        rows = body["data"]
        if not isinstance(rows, list) or not rows:
            raise LegacyInputError(
                [{"field": "data", "message": "expected a non-empty list", "type": "list_type"}]
            )
        if len(rows) > max_rows:
            raise too_many_rows(len(rows), max_rows)
        parsed, problems = [], []
        for i, row in enumerate(rows):
            try:
                parsed.append(row_model.model_validate(row))
            except ValidationError as exc:
                problems += _problems(exc, f"data[{i}]")
        if problems:
            raise LegacyInputError(problems)
        return parsed, True
    try:
        return [row_model.model_validate(body)], False
    except ValidationError as exc:
        raise LegacyInputError(_problems(exc, "")) from None


def build_legacy_router(runtime: Runtime) -> APIRouter:
    """``POST /predict``, bound to one worker's runtime."""
    row_model = transaction_model(unknown_fields="ignore")
    scorer = Depends(key_with_scope(runtime, "score"))
    router = APIRouter()

    @router.post(
        "/predict",
        response_model=LegacyOut,
        responses=ERRORS,
        deprecated=True,
        tags=["deprecated"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _BODY_SCHEMA}},
            }
        },
    )
    def predict(
        request: Request,
        response: Response,
        body: Any = Body(...),  # noqa: B008
        key: ApiKeyInfo = scorer,
    ) -> LegacyOut:
        """Deprecated: use /v1/score. Takes the older clients' three body shapes."""
        rows, many = parse_legacy_body(
            body, row_model, max_rows=runtime.settings.api_max_batch_rows
        )
        live, items = score_rows(runtime, request, key, rows, with_reasons=False)
        response.headers["Deprecation"] = "true"
        response.headers["Link"] = '</v1/score>; rel="successor-version"'
        predictions = [int(item.alert) for item in items]
        probabilities = [item.probability for item in items]
        return LegacyOut(
            prediction=predictions if many else predictions[0],
            fraud_probability=probabilities if many else probabilities[0],
            model_version=live.version,
            request_id=request.scope["state"]["request_id"],
        )

    return router
