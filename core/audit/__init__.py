"""The prediction audit log: every scoring event and every scored row, never lost.

- ``records``: the event record, the per-row columns, and safe text (no value a user
  can supply is refused by the database for its content);
- ``writer``: one event written to the database, one short transaction per chunk;
- ``stream``: the background writer a scoring call feeds chunk by chunk;
- ``spool``: records that could not be written yet, and the database each belongs to;
- ``replay``: writing the spool back, once, in order, by one process at a time;
- ``adopt``: records no database will take (untagged, or meant for a database gone for
  good), written into the configured one when a user names them;
- driver errors are sorted into connection and content errors by ``core.db.classify_error``.
"""

from core.audit.adopt import Adoption, adopt_spooled, list_adoptable
from core.audit.records import (
    PREDICTION_COLUMNS,
    PREDICTION_SCHEMA,
    AuditReceipt,
    ScoringEventRecord,
    compute_input_hashes,
    make_predictions_table,
    safe_text,
    safe_text_array,
)
from core.audit.replay import replay_spool, retry_failed, spool_status
from core.audit.spool import (
    DatabaseTag,
    SpooledRecord,
    SpoolStatus,
    failed_dir,
    pending_spool,
    spool_dir,
)
from core.audit.stream import AuditStream, log_scoring
from core.audit.writer import (
    COMPLETE,
    IN_PROGRESS,
    INTERRUPTED,
    count_predictions,
    sweep_interrupted,
)

__all__ = [
    "COMPLETE",
    "INTERRUPTED",
    "IN_PROGRESS",
    "PREDICTION_COLUMNS",
    "PREDICTION_SCHEMA",
    "Adoption",
    "AuditReceipt",
    "AuditStream",
    "DatabaseTag",
    "ScoringEventRecord",
    "SpoolStatus",
    "SpooledRecord",
    "adopt_spooled",
    "compute_input_hashes",
    "count_predictions",
    "failed_dir",
    "list_adoptable",
    "log_scoring",
    "make_predictions_table",
    "pending_spool",
    "replay_spool",
    "retry_failed",
    "safe_text",
    "safe_text_array",
    "spool_dir",
    "spool_status",
    "sweep_interrupted",
]
