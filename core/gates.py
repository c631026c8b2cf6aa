"""Promotion gates: the checks a version passes before an alias moves to it.

- ``auprc``: the candidate's AUPRC is at least the current version's minus a tolerance,
  both computed here on the same evaluation rows (by default the current version's test
  split, else the candidate's), when the alias already points somewhere;
- ``loads``: the model loads safely and predicts on its input example (the MLmodel's,
  or the first rows of its test split when it has none);
- ``signature``: its MLmodel signature takes our 30 features, by name, in order, as numbers;
- ``threshold``: its decision threshold is set and valid.

Each gate gives a :class:`GateResult`, stored with the move in the history. The ``auprc``
gate also carries a warning, pass or fail, when its evaluation rows and the candidate's
training data differ in origin (one synthetic, the other real: ``core.provenance``): a real
candidate judged on a synthetic version's test split, or the reverse. A gate that
cannot be evaluated (no evaluation data, a model that does not load) fails with the
reason; a backend that does not answer raises ``BackendError`` instead, as nothing
about the version is known then.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from core.artifacts import download_model, get_test_split
from core.compare import Evaluation, auprc_evidence, load_evaluation
from core.config import Settings
from core.errors import InputError, NotFoundError, RefusedError
from core.models import ADAPTERS, load_adapter
from core.provenance import describe_origin_mismatch
from core.registry import ModelVersionInfo, get_version
from core.schema import FEATURES

GATE_AUPRC = "auprc"
GATE_LOADS = "loads"
GATE_SIGNATURE = "signature"
GATE_THRESHOLD = "threshold"
EXAMPLE_ROWS = 5
"""Rows of the test split a version without an input example is tried on."""

_NUMERIC = frozenset({"double", "float", "long", "integer"})


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome, as the history stores it.

    Attributes:
        name: the gate.
        passed: whether it passed.
        detail: what it found.
        warning: what the result does not say by itself and a lead must weigh (e.g. the
            ``auprc`` gate judged a real-data candidate on synthetic rows); None if nothing.
    """

    name: str
    passed: bool
    detail: str
    warning: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        warning = data.get("warning")  # absent from rows recorded before warnings existed
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            detail=str(data["detail"]),
            warning=None if warning is None else str(warning),
        )

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass(frozen=True)
class AuprcEvidence:
    """The two AUPRCs the ``auprc`` gate compares, computed on the same rows.

    Attributes:
        candidate_auprc: the version to promote.
        current_auprc: the version the alias points at now.
        evaluation_name: what the rows are (e.g. the current version's test split).
        rows: how many rows; frauds: how many of them are frauds.
        weighted: whether the AUPRCs are weighted to the natural prevalence.
        leakage: why the rows overlap the candidate's training data, if they do (the
            gate then fails with this text); None when no overlap was found.
        leakage_checked: False when the candidate stores no training provenance to
            check against (trained elsewhere, or before it was stored): the gate then
            says so instead of implying the rows are leak-free, and does not block.
        origin_warning: set when the rows and the candidate's training data differ in
            origin (synthetic against real, :func:`compare_data_origin`); None otherwise.
    """

    candidate_auprc: float
    current_auprc: float
    evaluation_name: str
    rows: int
    frauds: int
    weighted: bool = False
    leakage: str | None = None
    leakage_checked: bool = True
    origin_warning: str | None = None


def compare_data_origin(
    settings: Settings, *, candidate: ModelVersionInfo, evaluation: Evaluation
) -> str | None:
    """The warning when ``evaluation`` is a version's test split whose data differs in
    origin from the candidate's (:func:`core.provenance.describe_origin_mismatch`); None
    for a file, whose origin is not recorded.

    Raises:
        BackendError: the registry cannot be reached.
    """
    if evaluation.source_version is None:
        return None
    holdout = (
        candidate
        if evaluation.source_version == candidate.version
        else get_version(settings, evaluation.source_version, with_metrics=False)
    )
    return describe_origin_mismatch(settings, trained=candidate, judged_on=holdout)


def compute_auprc_evidence(
    settings: Settings,
    *,
    candidate: ModelVersionInfo,
    current: ModelVersionInfo,
    evaluation: Evaluation | None = None,
) -> AuprcEvidence:
    """Score the evaluation rows with both versions; AUPRC of each, leakage checked.

    The AUPRCs are computed here, never taken from a caller: weighted to the natural
    prevalence with the rows' sampling fraction (raw where it is 1), and the rows are
    checked against the candidate's training data (:func:`core.compare.check_leakage`):
    rows it was trained on would flatter it, so the gate fails on them.

    Args:
        settings: where the registry and artifacts are.
        candidate: the version to promote.
        current: the version the alias points at now.
        evaluation: the rows to judge both on (``core.compare.load_evaluation``); by
            default the current version's test split, or the candidate's when the current
            version has none (a version trained elsewhere).

    Returns:
        The evidence, with the leakage reason when the rows overlap the candidate's
        training data.

    Raises:
        NotFoundError: neither version has a test split (and no rows were given).
        InputError: the test split has frauds only, or none.
        RefusedError: a model cannot be loaded safely.
        BackendError: the stores cannot be reached.
    """
    note = ""
    if evaluation is None:
        try:
            evaluation = load_evaluation(settings, version=current.version)
        except NotFoundError as exc:
            try:
                evaluation = load_evaluation(settings, version=candidate.version)
            except NotFoundError:
                raise NotFoundError(
                    f"neither the current version {current.version} nor the candidate has a "
                    f"test split ({exc}); evaluate on a labelled file (--evaluation FILE)"
                ) from None
            note = f"; the current version {current.version} has no test split"
    evidence = auprc_evidence(settings, candidate=candidate, current=current, evaluation=evaluation)
    evidence["evaluation_name"] += note
    origin = compare_data_origin(settings, candidate=candidate, evaluation=evaluation)
    return AuprcEvidence(**evidence, origin_warning=origin)


def check_auprc(evidence: AuprcEvidence, *, tolerance: float) -> GateResult:
    """The ``auprc`` gate: candidate >= current - tolerance, on leak-free rows with frauds;
    with the evidence's origin warning, whatever the outcome."""
    where = (
        f"on the {evidence.evaluation_name} ({evidence.rows:,} rows, {evidence.frauds:,} frauds"
        f"{', weighted to the natural prevalence' if evidence.weighted else ''})"
    )
    warning = evidence.origin_warning
    if evidence.leakage is not None:
        return GateResult(
            GATE_AUPRC, False, f"evaluation data leaks: {evidence.leakage}", warning=warning
        )
    if evidence.frauds == 0:
        return GateResult(
            GATE_AUPRC, False, f"no fraud {where}: AUPRC is undefined", warning=warning
        )
    passed = evidence.candidate_auprc >= evidence.current_auprc - tolerance
    relation = ">=" if passed else "<"
    unchecked = (
        ""
        if evidence.leakage_checked
        else "; leakage not checkable (no training provenance stored)"
    )
    return GateResult(
        GATE_AUPRC,
        passed,
        f"candidate {evidence.candidate_auprc:.4f} {relation} current "
        f"{evidence.current_auprc:.4f} - tolerance {tolerance:g} {where}{unchecked}",
        warning=warning,
    )


def check_threshold(info: ModelVersionInfo) -> GateResult:
    """The ``threshold`` gate: the version's threshold tag is a number in (0, 1)."""
    if info.threshold is None:
        return GateResult(GATE_THRESHOLD, False, f"no valid threshold: {info.threshold_problem}")
    return GateResult(GATE_THRESHOLD, True, f"threshold {info.threshold:.4f}")


def check_artifact(settings: Settings, info: ModelVersionInfo) -> tuple[GateResult, GateResult]:
    """The ``loads`` and ``signature`` gates, from a fresh download of the version.

    Returns:
        (loads, signature).

    Raises:
        NotFoundError: the version does not exist.
        BackendError: the registry or the artifact store cannot be reached.
    """
    loads, signature, _ = _check_artifact(settings, info)
    return loads, signature


def _check_artifact(
    settings: Settings, info: ModelVersionInfo
) -> tuple[GateResult, GateResult, bool]:
    """(loads, signature, whether the model loaded at all: the AUPRC can be computed)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = download_model(settings, info.name, info.version, Path(tmp))
        try:
            mlmodel = Model.load(folder / "MLmodel")
        except (MlflowException, OSError, ValueError) as exc:
            failed = f"its MLmodel file cannot be read: {exc}"
            return (
                GateResult(GATE_LOADS, False, failed),
                GateResult(GATE_SIGNATURE, False, failed),
                False,
            )
        loads, loaded = _check_loads(settings, info, folder, mlmodel)
        return loads, _check_signature(mlmodel), loaded


def _check_loads(
    settings: Settings, info: ModelVersionInfo, folder: Path, mlmodel: Model
) -> tuple[GateResult, bool]:
    """The ``loads`` gate, and whether the model loaded (it may load and fail to predict)."""
    try:
        adapter = load_adapter(folder, ADAPTERS)
    except Exception as exc:  # refused (pickle, unknown kind) or unreadable: its own fault
        return GateResult(GATE_LOADS, False, f"does not load: {exc}"), False
    return _check_predicts(settings, info, folder, mlmodel, adapter), True


def _check_predicts(
    settings: Settings, info: ModelVersionInfo, folder: Path, mlmodel: Model, adapter: Any
) -> GateResult:
    try:
        example, source = _input_example(settings, info, folder, mlmodel)
    except NotFoundError as exc:
        return GateResult(GATE_LOADS, False, f"loads, but has nothing to predict on: {exc}")
    missing = [name for name in FEATURES if name not in example.columns]
    if missing:
        return GateResult(
            GATE_LOADS, False, f"its {source} lacks the columns {', '.join(missing[:5])}"
        )
    try:
        proba = np.asarray(
            adapter.predict_proba(example.loc[:, list(FEATURES)].to_numpy(dtype=np.float64))
        )
    except Exception as exc:  # whatever the model raises, it does not predict
        return GateResult(GATE_LOADS, False, f"loads but fails to predict on its {source}: {exc}")
    if proba.shape != (len(example),) or not np.all((proba >= 0) & (proba <= 1)):
        return GateResult(
            GATE_LOADS, False, f"predicts no probability per row on its {source}: {proba!r}"
        )
    return GateResult(
        GATE_LOADS, True, f"{adapter.kind} model predicts on its {source} ({len(example)} rows)"
    )


def _input_example(
    settings: Settings, info: ModelVersionInfo, folder: Path, mlmodel: Model
) -> tuple[pd.DataFrame, str]:
    """The MLmodel's input example, else the first rows of the version's test split."""
    try:
        example = mlmodel.load_input_example(str(folder))
    except Exception:  # an unreadable example counts as none: the test split is tried
        example = None
    if isinstance(example, pd.DataFrame) and len(example):
        return example, "input example"
    if isinstance(example, dict | list) and example:
        return pd.DataFrame(example), "input example"
    try:
        split = get_test_split(settings, info.run_id)
    except NotFoundError:
        raise NotFoundError("no input example and no logged test split") from None
    return split.head(EXAMPLE_ROWS), f"test split's first {EXAMPLE_ROWS} rows"


def _check_signature(mlmodel: Model) -> GateResult:
    signature = mlmodel.signature
    if signature is None or signature.inputs is None:
        return GateResult(GATE_SIGNATURE, False, "the model has no signature")
    inputs = signature.inputs
    if not inputs.has_input_names():
        return GateResult(GATE_SIGNATURE, False, "its signature's inputs have no names")
    names = list(inputs.input_names())
    if names != list(FEATURES):
        missing = [n for n in FEATURES if n not in names]
        extra = [n for n in names if n not in FEATURES]
        why = (
            f"missing {', '.join(missing[:5]) or 'none'}; extra {', '.join(extra[:5]) or 'none'}"
            if missing or extra
            else "the columns are in another order"
        )
        return GateResult(GATE_SIGNATURE, False, f"inputs do not match our schema: {why}")
    wrong = [
        f"{name} is {getattr(kind, 'name', kind)}"
        for name, kind in zip(names, inputs.input_types(), strict=True)
        if getattr(kind, "name", str(kind)) not in _NUMERIC
    ]
    if wrong:
        return GateResult(GATE_SIGNATURE, False, f"non-numeric inputs: {', '.join(wrong[:5])}")
    return GateResult(GATE_SIGNATURE, True, f"inputs are the {len(FEATURES)} schema features")


def run_gates(
    settings: Settings,
    *,
    candidate: ModelVersionInfo,
    current: ModelVersionInfo | None,
    evaluation: Evaluation | None = None,
    tolerance: float,
) -> list[GateResult]:
    """Every promotion gate for ``candidate``: auprc, loads, signature, threshold.

    Args:
        settings: where the registry and artifacts are.
        candidate: the version to promote.
        current: the version the alias points at now, or None when it is unset (the
            ``auprc`` gate then passes: there is nothing to compare with).
        evaluation: the rows to compute both AUPRCs on (leakage-checked here); by
            default the current version's test split, else the candidate's
            (:func:`compute_auprc_evidence`).
        tolerance: how far below the current AUPRC the candidate's may be.

    Returns:
        The four results, in that order; failures included.

    Raises:
        BackendError: the registry or the artifact store cannot be reached.
    """
    loads, signature, loaded = _check_artifact(settings, candidate)
    if current is None:
        auprc = GateResult(GATE_AUPRC, True, "skipped: the alias points nowhere yet")
    elif not loaded:
        auprc = GateResult(
            GATE_AUPRC, False, "not evaluated: the candidate does not load (see the loads gate)"
        )
    else:
        try:
            evidence = compute_auprc_evidence(
                settings, candidate=candidate, current=current, evaluation=evaluation
            )
        except (NotFoundError, InputError, RefusedError) as exc:
            auprc = GateResult(GATE_AUPRC, False, f"not evaluated: {exc}")
        else:
            auprc = check_auprc(evidence, tolerance=tolerance)
    return [auprc, loads, signature, check_threshold(candidate)]
