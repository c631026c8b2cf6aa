"""The ML lead's pages in-process with AppTest: compare versions on the same rows, promote
through the gates (and override), roll back from the history, change a threshold; an
analyst sees the same numbers and none of the actions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score
from streamlit.testing.v1 import AppTest

from app.ui.format import format_probability
from core.artifacts import get_reliability, get_test_split
from core.config import Settings, get_settings
from core.registry import get_version, load_model
from core.schema import FEATURES, LABEL
from core.tracking import get_client
from core.training import train_from_csv, train_model
from tests.conftest import LEAD, REPO, settings_env

MAIN = str(REPO / "app" / "main.py")
COMPARE = str(REPO / "pages" / "compare.py")
HISTORY = str(REPO / "pages" / "history.py")


@dataclass(frozen=True)
class Versions:
    settings: Settings
    good: int  # LightGBM on the tiny data: live at first
    other: int  # logistic regression on the same data
    noise: int  # trained on shuffled labels: no skill, so its AUPRC gate fails


@pytest.fixture(scope="module")
def versions(tiny_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Versions:
    folder = tmp_path_factory.mktemp("lifecycle-pages")
    settings = Settings(home=folder / "home")
    data = folder / "tiny.csv"
    tiny_frame.to_csv(data, index=False)
    shuffled = tiny_frame.copy()
    shuffled[LABEL] = np.random.default_rng(3).permutation(shuffled[LABEL].to_numpy())
    noise_csv = folder / "shuffled.csv"
    shuffled.to_csv(noise_csv, index=False)
    good = train_from_csv(data, settings=settings, actor=LEAD).version
    other = train_from_csv(data, settings=settings, actor=LEAD, model_kind="logreg").version
    noise = train_from_csv(noise_csv, settings=settings, actor=LEAD, model_kind="logreg").version
    return Versions(settings, good, other, noise)


def _app(monkeypatch: pytest.MonkeyPatch, settings: Settings, page: str, **extra: str) -> AppTest:
    for key, value in {**settings_env(settings), **extra}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()  # settings are read once per process: read this test's
    at = AppTest.from_file(MAIN, default_timeout=180).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r} in {[b.label for b in at.button]}"
    return found[0]


def _alias(settings: Settings, alias: str = "champion") -> int:
    return int(get_client(settings).get_model_version_by_alias(settings.model_name, alias).version)


def _history(settings: Settings) -> list[tuple[str, str, int | None, int | None]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.db import AliasEvent, get_engine

    with Session(get_engine(settings)) as session:
        rows = session.execute(
            select(
                AliasEvent.kind, AliasEvent.actor, AliasEvent.from_version, AliasEvent.to_version
            )
            .where(AliasEvent.model_name == settings.model_name, AliasEvent.status == "confirmed")
            .order_by(AliasEvent.id)
        ).all()
    return [tuple(r) for r in rows]


def test_compare_shows_every_version_on_the_live_test_split(
    versions: Versions, workbench_env: pytest.MonkeyPatch
) -> None:
    settings = versions.settings
    at = _app(workbench_env, settings, COMPARE)
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert sorted(table["version"]) == [versions.good, versions.other, versions.noise]
    # compare the live version with the logistic regression on the live version's test split
    assert at.multiselect[0].value == [versions.good, versions.noise]  # live and newest
    at.multiselect[0].set_value([versions.good, versions.other]).run()
    assert not at.exception and not at.error
    metrics = at.dataframe[1].value.set_index("version")
    assert list(metrics.index) == [versions.good, versions.other]
    split = get_test_split(settings, get_version(settings, versions.good).run_id)
    labels = split[LABEL].to_numpy()
    probabilities = {}
    for version in (versions.good, versions.other):
        proba = load_model(settings, get_version(settings, version)).predict_proba(
            split.loc[:, list(FEATURES)].to_numpy(dtype=float)
        )
        probabilities[version] = proba
        assert metrics.loc[version, "AUPRC"] == pytest.approx(
            average_precision_score(labels, proba)
        )
    assert metrics.loc[versions.good, "ΔAUPRC"] == "baseline"
    difference, interval = metrics.loc[versions.other, "ΔAUPRC"].split(" ", 1)
    low, high = (float(x) for x in interval.strip("[]").split(", "))
    assert low <= float(difference) <= high
    text = " ".join(m.value for m in at.markdown)
    assert f"{len(split):,} rows, {int(labels.sum()):,} frauds" in text
    assert next(s.value for s in at.subheader).startswith("Decisions that differ:")
    # the differing rows as people read them: percentages, decisions in words, thresholds
    # in the headers (it showed 0.0123456 and 1/0 under probability_v1, decision_v1)
    diff = next(d.value for d in at.dataframe if "label" in d.value.columns)
    assert len(diff)
    for version in (versions.good, versions.other):
        [probability] = [
            c for c in diff.columns if c.startswith(f"version {version} (") and "probability" in c
        ]
        assert re.fullmatch(
            rf"version {version} \(alert at ≥ 0\.\d{{4,}}\): probability", probability
        )
        decision = probability.replace(": probability", ": decision")
        assert set(diff[decision]) <= {"alert", "no alert"}
        first = int(diff["row"].iloc[0])  # the test split's rows, numbered from 1
        assert diff[probability].iloc[0] == format_probability(probabilities[version][first - 1])
        assert all(re.fullmatch(r"(< 0\.0001|> 99\.9|\d+\.?\d*)%", p) for p in diff[probability])
    assert set(diff["label"]) <= {"fraud", "legitimate"}
    assert _button(at, "Promote...") and _button(at, "Change threshold...")
    # each chosen version's calibration report: Brier before and after, from its run
    calibration = next(e for e in at.expander if e.label.startswith("Calibration"))
    shown = [float(m.value) for m in calibration.metric]  # to three significant digits
    for version in (versions.good, versions.other):
        report = get_reliability(settings, get_version(settings, version).run_id)
        assert any(v == pytest.approx(report.brier_before, rel=5e-3) for v in shown)
        assert any(v == pytest.approx(report.brier_after, rel=5e-3) for v in shown)


def test_an_analyst_sees_the_comparison_and_no_actions(
    versions: Versions, workbench_env: pytest.MonkeyPatch
) -> None:
    env = {"WORKBENCH_LOCAL_USER": "ann", "WORKBENCH_ROLES": "ann=analyst"}
    at = _app(workbench_env, versions.settings, COMPARE, **env)
    assert not at.error and len(at.dataframe) >= 2
    assert not [b for b in at.button if b.label in ("Promote...", "Change threshold...")]
    assert "An ML lead can promote" in " ".join(c.value for c in at.caption)
    at = _app(workbench_env, versions.settings, HISTORY, **env)
    assert not at.error and not [b for b in at.button if b.label == "Roll back"]


def _promote(at: AppTest, *, version: int, reason: str) -> AppTest:
    _button(at, "Promote...").click().run()
    dialog_version = next(s for s in at.selectbox if s.label == "Version")
    dialog_version.set_value(version).run()
    at.text_area(key="promote_reason").input(reason).run()
    _button(at, "Promote").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_lead_promotes_overrides_a_failed_gate_rolls_back_and_sets_a_threshold(
    versions: Versions, workbench_env: pytest.MonkeyPatch
) -> None:
    settings = versions.settings
    env = {"WORKBENCH_LOCAL_USER": "olivia"}
    assert _alias(settings) == versions.good

    # the logistic regression passes the gates with a generous tolerance
    at = _app(workbench_env, settings, COMPARE, WORKBENCH_PROMOTE_AUPRC_TOLERANCE="1", **env)
    # Promote is never greyed out (a click that only commits the typed reason would be
    # lost): without a reason it says one is needed, and nothing moves
    _promote(at, version=versions.other, reason=" ")
    assert any("a reason is required" in e.value for e in at.error), [e.value for e in at.error]
    assert _alias(settings) == versions.good
    at.text_area(key="promote_reason").input("better recall at the same queue").run()
    _button(at, "Promote").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert _alias(settings) == versions.other
    assert _history(settings)[-1] == ("promote", "olivia", versions.good, versions.other)

    # the no-skill model fails the AUPRC gate: nothing moves, then an override moves it
    workbench_env.delenv("WORKBENCH_PROMOTE_AUPRC_TOLERANCE")
    at = _app(workbench_env, settings, COMPARE, **env)
    at.multiselect[0].set_value([versions.other, versions.noise]).run()
    _promote(at, version=versions.noise, reason="testing the gate")
    assert "Gates failed; nothing moved." in [e.value for e in at.error]
    assert "**auprc**" in " ".join(m.value for m in at.markdown)
    assert _alias(settings) == versions.other
    at.checkbox[0].check().run()
    _button(at, "Promote").click().run()
    assert not at.exception
    assert _alias(settings) == versions.noise
    assert _history(settings)[-1] == ("override", "olivia", versions.other, versions.noise)

    # roll back from the history page: champion returns to the logistic regression
    at = _app(workbench_env, settings, HISTORY, **env)
    _button(at, "Roll back").click().run()
    at.text_area(key="rollback_reason_champion").input("override was a test").run()
    [b for b in at.button if b.label == "Roll back" and b.key is None][-1].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _alias(settings) == versions.other
    assert _history(settings)[-1] == ("rollback", "olivia", versions.noise, versions.other)
    at = _app(workbench_env, settings, HISTORY, **env)
    assert at.download_button  # the history as CSV

    # a threshold change is kept with the version and in the history
    at = _app(workbench_env, settings, COMPARE, **env)
    _button(at, "Change threshold...").click().run()
    next(s for s in at.selectbox if s.label == "Version").set_value(versions.other).run()
    at.number_input[-1].set_value(0.4321).run()
    at.text_area(key="threshold_reason").input("queue too long").run()
    _button(at, "Set threshold").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    tags = get_client(settings).get_model_version(settings.model_name, str(versions.other)).tags
    assert float(tags["threshold"]) == pytest.approx(0.4321)


def test_a_version_trained_elsewhere_gets_its_threshold_on_the_compare_page(
    tiny_frame: pd.DataFrame,
    tmp_path: Path,
    workbench_env: pytest.MonkeyPatch,
) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import precision_recall_curve

    from core.errors import GateFailed
    from core.lifecycle import promote
    from tests.test_external_models import log_elsewhere

    settings = Settings(home=tmp_path / "home")
    data = tmp_path / "tiny.csv"
    tiny_frame.to_csv(data, index=False)
    live = train_from_csv(data, settings=settings, actor=LEAD).version
    forest = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0, n_jobs=1)
    forest.fit(tiny_frame[list(FEATURES)], tiny_frame[LABEL])
    elsewhere = log_elsewhere(
        settings,
        forest,
        input_example=tiny_frame[list(FEATURES)].head(5),
        skops_trusted_types=["sklearn.tree._tree.Tree"],  # MLflow's own save asks for it
    )
    lenient = settings.model_copy(update={"promote_auprc_tolerance": 1.0})
    with pytest.raises(GateFailed, match="threshold gate failed") as refused:
        promote(lenient, version=elsewhere, alias="champion", reason="try", actor=LEAD)
    # no training provenance to check the rows against: said, not claimed clean, not blocked
    auprc = next(g for g in refused.value.results if g.name == "auprc")
    assert auprc.passed and auprc.detail.endswith(
        "; leakage not checkable (no training provenance stored)"
    )

    at = _app(workbench_env, settings, COMPARE, WORKBENCH_LOCAL_USER="olivia")
    at.multiselect[0].set_value([live, elsewhere]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = at.dataframe[1].value.set_index("version")
    assert pd.isna(metrics.loc[elsewhere, "threshold"])
    captions = " ".join(c.value for c in at.caption)
    assert f"Version {elsewhere}: leakage could not be checked" in captions
    assert f"Version {live}: leakage" not in captions  # checked: its hashes are stored
    # the suggestion: the max-F1 cut of the forest's scores on the live test split
    split = get_test_split(settings, get_version(settings, live).run_id)
    proba = forest.predict_proba(split[list(FEATURES)])[:, 1]
    precision, recall, cuts = precision_recall_curve(split[LABEL], proba)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    suggested = metrics.loc[elsewhere, "suggested threshold (max F1)"]
    assert suggested == pytest.approx(cuts[np.argmax(f1)])

    _button(at, "Change threshold...").click().run()
    assert next(s for s in at.selectbox if s.label == "Version").value == elsewhere
    assert at.number_input[-1].value == pytest.approx(round(suggested, 4), abs=1e-4)
    at.text_area(key="threshold_reason").input("max F1 on the live test split").run()
    _button(at, "Set threshold").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    move = promote(
        lenient, version=elsewhere, alias="champion", reason="now it decides", actor=LEAD
    )
    assert [g.name for g in move.gates if not g.passed] == []
    assert _alias(settings) == elsewhere


def test_a_move_made_while_the_dialog_is_open_is_refused_not_overwritten(
    tiny_frame: pd.DataFrame, tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    from core.lifecycle import promote

    settings = Settings(home=tmp_path / "home")
    data = tmp_path / "tiny.csv"
    tiny_frame.to_csv(data, index=False)
    first, second, third = (
        train_from_csv(data, settings=settings, actor=LEAD).version for _ in range(3)
    )
    lenient = {"WORKBENCH_PROMOTE_AUPRC_TOLERANCE": "1", "WORKBENCH_LOCAL_USER": "olivia"}
    at = _app(workbench_env, settings, COMPARE, **lenient)
    _button(at, "Promote...").click().run()
    next(s for s in at.selectbox if s.label == "Version").set_value(second).run()
    assert "points at version **1**" in " ".join(m.value for m in at.markdown)
    # meanwhile another lead moves the alias
    promote(settings, version=third, alias="champion", reason="meanwhile", actor=LEAD)
    at.text_area(key="promote_reason").input("I saw version 1").run()
    _button(at, "Promote").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "champion" in errors and "moved" in errors, errors
    assert _alias(settings) == third  # not overwritten
    assert first == 1


def test_a_threshold_change_shows_at_once_in_the_comparison(
    tiny_frame: pd.DataFrame, tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home")
    data = tmp_path / "tiny.csv"
    tiny_frame.to_csv(data, index=False)
    first = train_from_csv(data, settings=settings, actor=LEAD).version
    second = train_from_csv(data, settings=settings, actor=LEAD, model_kind="logreg").version
    at = _app(workbench_env, settings, COMPARE, WORKBENCH_LOCAL_USER="olivia")
    assert at.multiselect[0].value == [first, second]
    _button(at, "Change threshold...").click().run()
    next(s for s in at.selectbox if s.label == "Version").set_value(second).run()
    at.number_input[-1].set_value(0.2468).run()
    at.text_area(key="threshold_reason").input("shorter queue").run()
    _button(at, "Set threshold").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = at.dataframe[1].value.set_index("version")
    assert metrics.loc[second, "threshold"] == pytest.approx(0.2468)
    table = at.dataframe[0].value.set_index("version")
    assert table.loc[second, "threshold now"] == pytest.approx(0.2468)


@pytest.mark.parametrize(
    ("threshold", "step"),
    [(0.2764, 0.01), (0.5, 0.01), (0.0066, 0.0001), (0.00042, 0.00001), (0.05, 0.001)],
)
def test_the_threshold_input_steps_by_the_thresholds_own_size(
    threshold: float, step: float
) -> None:
    """A calibrated threshold at the natural prevalence (0.0066 in bench/README.md,
    "Calibration") would jump to 0.0166 on one click of a 0.01 step."""
    from app.ui.lifecycle_view import threshold_step

    assert threshold_step(threshold) == pytest.approx(step, rel=1e-12)


def test_the_promote_dialog_warns_when_a_real_candidate_is_judged_on_synthetic_rows(
    tiny_frame: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
    workbench_env: pytest.MonkeyPatch,
) -> None:
    settings = Settings(home=tmp_path_factory.mktemp("origin-page") / "home")
    synthetic, real = (
        train_model(
            tiny_frame,
            settings=settings,
            model_kind="logreg",
            data_sha256=digest * 64,
            actor=LEAD,
            synthetic=marked,
        ).version
        for digest, marked in (("a", True), ("b", False))
    )
    assert _alias(settings) == synthetic
    at = _app(workbench_env, settings, COMPARE, WORKBENCH_PROMOTE_AUPRC_TOLERANCE="1")
    _promote(at, version=real, reason="the real-data model")
    assert not at.error, [e.value for e in at.error]
    assert _alias(settings) == real
    warnings = [w.value for w in at.warning]
    expected = f"auprc gate: the candidate, version {real}, was trained on real data"
    assert any(w.startswith(expected) for w in warnings), warnings
    assert any(f"test split of version {synthetic}, which is synthetic" in w for w in warnings)
    # once: not also in the success message's list of gates
    shown = [e.value for e in (*at.success, *at.warning, *at.markdown, *at.error)]
    assert sum(text.count("was trained on real data") for text in shown) == 1, shown


def test_the_versions_chosen_for_comparison_stay_chosen_after_a_promote(
    versions: Versions, workbench_env: pytest.MonkeyPatch
) -> None:
    settings = versions.settings
    target = next(v for v in (versions.other, versions.good) if v != _alias(settings))
    at = _app(workbench_env, settings, COMPARE, WORKBENCH_PROMOTE_AUPRC_TOLERANCE="1")

    def chosen(at: AppTest):  # type: ignore[no-untyped-def]
        return next(m for m in at.multiselect if m.label == "Versions to compare")

    chosen(at).set_value([target]).run()  # not the default
    _promote(at, version=target, reason="keep my comparison")
    assert _alias(settings) == target
    assert chosen(at).value == [target]


def test_promote_says_when_the_chosen_evaluation_file_cannot_be_used(
    versions: Versions, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, versions.settings, COMPARE)
    _button(at, "Promote...").click().run()
    assert not [w for w in at.warning if "No usable labelled CSV" in w.value]  # the split
    next(r for r in at.radio if r.label == "Evaluation data").set_value("file").run()
    _button(at, "Promote...").click().run()  # no file uploaded: the gates use the split
    assert [w for w in at.warning if "No usable labelled CSV" in w.value]
