"""Transaction data: CSV loading with one-pass validation, and a synthetic generator."""

from core.data.loader import LoadResult, iter_transactions, load_transactions, validate_records
from core.data.record import parse_record
from core.data.synthetic import generate_transactions

__all__ = [
    "LoadResult",
    "generate_transactions",
    "iter_transactions",
    "load_transactions",
    "parse_record",
    "validate_records",
]
