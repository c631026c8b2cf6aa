"""Comparing versions on the same evaluation data, raw and at the natural prevalence.

- ``prevalence``: metrics and curves raw and weighted to the natural prevalence (pure maths);
- ``bootstrap``: paired bootstrap of AUPRC differences, vectorised (pure maths);
- ``evaluation``: the rows to compare on (a version's test split, or a labelled CSV);
- ``compare``: scoring the versions and comparing them (:func:`compare_versions`);
- ``versions``: the versions table and the parameter diff;
- ``leakage``: the leakage guard and the AUPRC gate's evidence.
"""

from core.compare.bootstrap import Interval, paired_bootstrap_differences
from core.compare.compare import Comparison, VersionComparison, compare_versions
from core.compare.evaluation import Evaluation, load_evaluation
from core.compare.leakage import (
    Leakage,
    LeakageCheck,
    auprc_evidence,
    check_leakage,
    run_leakage_checks,
)
from core.compare.prevalence import (
    PrevalenceMetrics,
    RateMetrics,
    check_sampling_fraction,
    compute_prevalence_metrics,
)
from core.compare.versions import VersionRow, list_version_rows, param_diff

__all__ = [
    "Comparison",
    "Evaluation",
    "Interval",
    "Leakage",
    "LeakageCheck",
    "PrevalenceMetrics",
    "RateMetrics",
    "VersionComparison",
    "VersionRow",
    "auprc_evidence",
    "check_leakage",
    "check_sampling_fraction",
    "compare_versions",
    "compute_prevalence_metrics",
    "list_version_rows",
    "load_evaluation",
    "paired_bootstrap_differences",
    "param_diff",
    "run_leakage_checks",
]
