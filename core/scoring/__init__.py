"""Scoring: one vectorised path for a form, a batch file, the CLI and the API.

The model is loaded once per version (``core.registry.load_model``) and called on numpy
arrays in schema order through its kind's adapter. Predicting needs no threshold; deciding
does: every scoring call reads the version's threshold tag afresh
(``core.registry.read_threshold``), so a changed threshold applies from the next call, and
a version without a valid one is refused before anything is scored. Every call is written to
the audit log (``core.audit``).

- ``base``: the model choice, the decision, the added column names, the audit event header;
- ``batch``: a file, chunk by chunk (:func:`score_file`);
- ``single``: one transaction (:func:`score_record`);
- ``whatif``: one transaction explained, not decided nor audited (:func:`explain_record`).
"""

from core.scoring.base import (
    DECISION,
    ID_COLUMNS,
    MODEL_VERSION,
    PROBABILITY,
    REASON_COLUMNS,
    ModelChoice,
    Progress,
    SourceKind,
    resolve_model,
    score_features,
)
from core.scoring.batch import BatchResult, estimate_rows, result_columns, score_file
from core.scoring.single import SingleResult, score_record
from core.scoring.whatif import RowExplanation, explain_record

__all__ = [
    "DECISION",
    "ID_COLUMNS",
    "MODEL_VERSION",
    "PROBABILITY",
    "REASON_COLUMNS",
    "BatchResult",
    "ModelChoice",
    "Progress",
    "RowExplanation",
    "SingleResult",
    "SourceKind",
    "estimate_rows",
    "explain_record",
    "resolve_model",
    "result_columns",
    "score_features",
    "score_file",
    "score_record",
]
