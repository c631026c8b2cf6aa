"""The monitoring page's parts (placeholder until core.monitoring exists)."""

MISSING = "Not built yet: the monitoring summary (core/monitoring.py) is not in this build."
