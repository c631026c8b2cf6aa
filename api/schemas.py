"""Request and response bodies (pydantic): what the OpenAPI schema at /docs shows.

A transaction is the 30 named features of the schema (``core.schema.FEATURES``), each a
finite JSON number within +-1e15 (strings, booleans, NaN and infinities are refused with
the field named), ``Time`` and ``Amount`` not negative, plus an optional client ``transaction_id``
echoed back and written to the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from core.schema import FEATURES, NON_NEGATIVE

LIMIT = 1e15
"""The largest magnitude a feature may have: far beyond any card transaction (ULB's
components stay within a few hundred, amounts within millions), and small enough that no
model's arithmetic overflows on it (a scaler dividing 1e308 gives infinity)."""
Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-LIMIT, le=LIMIT)]
NonNegative = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=LIMIT)]
TransactionId = Annotated[str | None, Field(default=None, max_length=128)]

_FIELDS: dict[str, Any] = {
    name: (NonNegative if name in NON_NEGATIVE else Number, ...) for name in FEATURES
}


def transaction_model(*, unknown_fields: str) -> type[BaseModel]:
    """The transaction body: unknown fields ``reject``-ed (422) or ``ignore``-d."""
    extra: Literal["forbid", "ignore"] = "forbid" if unknown_fields == "reject" else "ignore"
    return create_model(
        "Transaction",
        __config__=ConfigDict(extra=extra, json_schema_extra={"example": _EXAMPLE}),
        __doc__="One card transaction: Time, V1..V28, Amount, and an optional id.",
        transaction_id=(TransactionId, None),
        **_FIELDS,
    )


_EXAMPLE: dict[str, Any] = {
    "transaction_id": "tx-0001",
    **{name: 0.0 for name in FEATURES},
    "Time": 406.0,
    "Amount": 149.62,
}


ProbabilityScale = Annotated[
    Literal["raw", "platt", "isotonic"],
    Field(
        description="What the version's probabilities are: `raw`, the model's own output "
        "(uncalibrated: versions trained before calibration, or elsewhere); `platt` or "
        "`isotonic`, calibrated on validation rows: an estimated fraud rate, at the natural "
        "prevalence where the training data was down-sampled. Its threshold is on the same "
        "scale, so compare probabilities across versions only on the same scale."
    ),
]
TimeFeature = Annotated[
    Literal["raw", "drop", "hour_of_day"],
    Field(
        description="How the version's model sees `Time` (every request still sends it): "
        "`raw` as sent, `drop` not at all, `hour_of_day` as (Time mod 86400) / 3600."
    ),
]


class ModelRef(BaseModel):
    """The model version that answered, and what its probabilities are."""

    name: str
    version: int
    alias: str | None
    probability_scale: ProbabilityScale
    time_feature: TimeFeature


class ReasonOut(BaseModel):
    """A feature pushing this transaction toward fraud (SHAP, in log-odds)."""

    feature: str
    value: float
    contribution: float


class ScoreItem(BaseModel):
    """The score of one transaction."""

    transaction_id: str | None
    probability: float = Field(description="Fraud probability from the model, 0 to 1.")
    decision: Literal["alert", "no_alert"]
    alert: bool
    reasons: list[ReasonOut] | None = Field(
        default=None, description="With ?explain=true: the top features toward fraud."
    )
    explanation_problem: str | None = Field(
        default=None, description="With ?explain=true: why this version gives no reasons."
    )


class ScoreOut(ScoreItem):
    """The score of one transaction, with the version and threshold that decided it."""

    request_id: str
    threshold: float = Field(description="The version's threshold: alert when probability >= it.")
    model: ModelRef


class BatchScoreOut(BaseModel):
    """Scores of a batch, in the order sent."""

    request_id: str
    model: ModelRef
    threshold: float
    alerts: int
    results: list[ScoreItem]


class ModelOut(BaseModel):
    """The live model."""

    name: str
    alias: str | None
    version: int
    kind: str
    probability_scale: ProbabilityScale
    probability_scale_text: str = Field(
        description="The probability scale in words, e.g. `calibrated (Platt), at the natural "
        "prevalence (sampling fraction 0.0173)` or `raw model output (uncalibrated)`."
    )
    time_feature: TimeFeature
    threshold: float
    metrics: dict[str, float] = Field(description="Test-split metrics from training.")
    loaded_at: datetime
    explainable: bool
    reload_problem: str | None = Field(
        description="Why the alias's current target is not being served, if it is not."
    )


class ReloadOut(BaseModel):
    """The outcome of POST /v1/reload."""

    changed: bool
    model: ModelOut | None
    problem: str | None


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    """Readiness: a model is loaded and the API keys were read. The database is reported,
    not required: audit records spool while it is down."""

    ready: bool
    model: ModelRef | None
    problem: str | None
    database: Literal["ok", "unreachable"]
    database_problem: str | None
    audit_spool_pending: int
    audit_problem: str | None = Field(
        default=None, description="Why audit records could not even be spooled, if so."
    )
    audit_dropped: int = Field(
        default=0, description="Audit records dropped: more waited than memory allows."
    )


class LegacyOut(BaseModel):
    """``/predict``: the answer the older clients read."""

    prediction: int | list[int]
    fraud_probability: float | list[float]
    model_version: int
    request_id: str


class ErrorOut(BaseModel):
    """Every error: a message, and the request id to find it in the server's log."""

    detail: Any
    request_id: str | None = None
