"""ML leads' actions in the app: promote through the gates, set a threshold, roll back.

Each action calls core, which checks the role, the compare-and-set and the gates again:
the buttons are hidden from analysts, and core refuses them anyway.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app.ui import compare_view, state
from app.ui.format import escape_markdown, format_time, text_or_dash
from core.aliases import check_alias_name
from core.auth import Actor
from core.compare import Comparison, Evaluation
from core.config import Settings
from core.errors import GateFailed, WorkbenchError
from core.gates import GateResult
from core.history import HistoryRow
from core.lifecycle import promote, rollback
from core.registry import format_threshold, get_alias_version, get_version
from core.thresholds import set_threshold

_DONE = "lifecycle_done"  # a message shown once after the dialog closes
_DONE_WARNINGS = "lifecycle_done_warnings"  # the gates' warnings, shown with it
# Which dialog is open ("promote", "threshold", "rollback:<alias>"): a dialog is opened by a
# button, and stays open across the reruns its own widgets cause until it finishes or the
# user dismisses it.
_OPEN = "lifecycle_dialog"
_SEEN = "lifecycle_seen"  # alias -> the version the open dialog showed


def open_dialog(name: str) -> None:
    _dismiss()
    st.session_state[_OPEN] = name


def opened() -> str | None:
    return st.session_state.get(_OPEN)


def _dismiss() -> None:
    for key in (_OPEN, _SEEN, "promote_failed", "promote_force", "rollback_seen"):
        st.session_state.pop(key, None)


def _failed_for(version: int, alias: str) -> GateFailed | None:
    """The failed gates of the last click, if it was for this version and alias (an
    override applies only to gates the lead has seen)."""
    failed = st.session_state.get("promote_failed")
    if failed is None or failed[:2] != (version, alias):
        return None
    return failed[2]


def show_done() -> None:
    """The last action's outcome, shown once on the page that ran it."""
    message = st.session_state.pop(_DONE, None)
    if message:
        st.success(message, icon=":material/check:")
    for warning in st.session_state.pop(_DONE_WARNINGS, None) or []:
        st.warning(warning, icon=":material/warning:")


def _finish(message: str, warnings: list[str] | None = None) -> None:
    st.session_state[_DONE] = message
    st.session_state[_DONE_WARNINGS] = warnings or []
    _dismiss()
    state.clear()  # registry answers, then everything computed with a threshold or alias
    for cached in (
        compare_view.version_rows,
        compare_view.split_evaluation,
        compare_view.comparison,
    ):
        cached.clear()
    st.rerun()


def gate_lines(results: tuple[GateResult, ...] | tuple[object, ...]) -> str:
    """Each gate as one markdown line with a pass / fail icon. Its warning is not here: the
    page shows it once, in its own box (:func:`gate_warnings`)."""
    lines = []
    for g in results:
        icon = ":material/check_circle:" if g.passed else ":material/cancel:"  # type: ignore[attr-defined]
        lines.append(f"- {icon} **{g.name}**: {escape_markdown(g.detail)}")  # type: ignore[attr-defined]
    return "\n".join(lines)


def gate_warnings(results: tuple[GateResult, ...] | tuple[object, ...]) -> list[str]:
    """Each gate's warning as a sentence for ``st.warning`` (the gate named)."""
    return [
        f"{g.name} gate: {g.warning}"  # type: ignore[attr-defined]
        for g in results
        if getattr(g, "warning", None)
    ]


def history_table(rows: list[HistoryRow]) -> pd.DataFrame:
    """The history as the page shows it: local times to the second, ``-`` where a field
    does not apply (no role recorded, no earlier version, no threshold). The CSV download
    keeps core's full values (``core.history.history_csv``)."""
    return pd.DataFrame.from_records(
        [
            {
                "time": format_time(r.time, seconds=True),
                "actor": r.actor,
                "role": text_or_dash(r.role),
                "kind": r.kind,
                "alias": text_or_dash(r.alias and f"@{r.alias}"),
                "from version": text_or_dash(r.from_version),
                "to version": text_or_dash(r.to_version),
                "threshold": text_or_dash(r.threshold, 4),
                "old threshold": text_or_dash(r.old_threshold, 4),
                "reason": r.reason or "-",
                "gates": ", ".join(
                    f"{g.name} {'passed' if g.passed else 'FAILED'}" for g in r.gates
                )
                or "-",
                "status": r.status,
            }
            for r in rows
        ]
    )


@st.dialog("Promote a version", width="large", on_dismiss=_dismiss)
def promote_dialog(
    settings: Settings,
    actor: Actor,
    versions: list[int],
    aliases: list[str],
    evaluation: Evaluation | None,
    default: int | None,
    evaluation_note: str | None = None,
) -> None:
    if evaluation_note:
        st.warning(evaluation_note, icon=":material/warning:")
    index = versions.index(default) if default in versions else 0
    version = st.selectbox("Version", versions, index=index)
    known = list(dict.fromkeys([settings.live_alias, *aliases]))
    alias = st.selectbox("Alias", [*known, "(new alias)"])
    if alias == "(new alias)":
        alias = st.text_input("New alias name", placeholder="challenger").strip()
        if not alias:
            return
        try:
            check_alias_name(alias)
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
            return
    # The version the lead is shown is read once per alias while the dialog is open, and
    # that is what the move is compared with: a move made meanwhile by someone else is
    # refused by core instead of overwritten (reading it again at the click would miss it).
    seen: dict[str, int | None] = st.session_state.setdefault(_SEEN, {})
    if alias not in seen:
        try:
            seen[alias] = get_alias_version(settings, alias)
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
            return
    now = seen[alias]
    st.markdown(
        f"**@{escape_markdown(alias)}** points at "
        + ("nothing yet." if now is None else f"version **{now}**.")
        + " It moves only if nobody moves it meanwhile."
    )
    reason = st.text_area("Reason (required, kept in the history)", key="promote_reason")
    # After failed gates, the override checkbox (below the button) is read on the next click.
    failed = _failed_for(version, alias)
    force = failed is not None and st.session_state.get("promote_force", False)
    if st.button("Promote", type="primary", icon=":material/rocket_launch:"):
        try:
            move = promote(
                settings,
                version=version,
                alias=alias,
                reason=reason,
                actor=actor,
                expected=now,
                force=force,
                evaluation=evaluation,  # core scores these rows and checks leakage
            )
        except GateFailed as exc:
            st.session_state["promote_failed"] = (version, alias, exc)
            st.session_state.pop("promote_force", None)
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            was = "unset" if move.from_version is None else f"version {move.from_version}"
            _finish(
                f"@{alias} moved from {was} to version {move.to_version} ({move.kind}).\n\n"
                + gate_lines(move.gates),
                gate_warnings(move.gates),
            )
    failed = _failed_for(version, alias)
    if failed is not None:
        st.error("Gates failed; nothing moved.", icon=":material/block:")
        for warning in gate_warnings(failed.results):
            st.warning(warning, icon=":material/warning:")
        st.markdown(gate_lines(failed.results))
        st.checkbox(
            "Override the failed gates (recorded as an override, with the gates), then Promote",
            key="promote_force",
        )


def threshold_step(threshold: float) -> float:
    """The number input's step for a threshold: a tenth of its leading digit's place
    (0.2764 -> 0.01, 0.0066 -> 0.0001), so one click moves it by a few percent of itself."""
    if not 0.0 < threshold < 1.0:
        return 0.01
    return 10.0 ** (math.floor(math.log10(threshold)) - 1)


@st.dialog("Change a threshold", on_dismiss=_dismiss)
def threshold_dialog(
    settings: Settings,
    actor: Actor,
    result: Comparison | None,
    versions: list[int],
    default: int | None,
) -> None:
    version = st.selectbox(
        "Version", versions, index=versions.index(default) if default in versions else 0
    )
    compared = (
        None if result is None else next((c for c in result.versions if c.version == version), None)
    )
    # the threshold now, read fresh (the version may not be among those compared)
    try:
        current = get_version(settings, version, with_metrics=False).threshold
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    suggestion = None if compared is None else compared.suggest_threshold
    if current is not None:
        st.markdown(f"Version {version} decides at **{format_threshold(current)}** now.")
    elif suggestion is not None:
        st.markdown(
            f"Version {version} has no threshold. The evaluation rows' max-F1 threshold is "
            f"**{format_threshold(suggestion)}** (suggested)."
        )
    else:
        st.markdown(
            f"Version {version} has no threshold. Compare it above to get the evaluation "
            "rows' max-F1 threshold suggested."
        )
    start = float(current if current is not None else suggestion if suggestion is not None else 0.5)
    value = st.number_input(
        "New threshold",
        min_value=0.0,
        max_value=1.0,
        value=start,
        # a calibrated threshold is a natural-prevalence rate, often below 0.01: the step
        # and the digits follow its size (0.0066 steps by 0.0001), not four decimals
        step=threshold_step(start),
        format="%.6g",
    )
    reason = st.text_area("Reason (required, kept in the history)", key="threshold_reason")
    if st.button("Set threshold", type="primary"):
        try:
            change = set_threshold(
                settings, version=version, value=value, reason=reason, actor=actor
            )
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            old = "none" if change.old_threshold is None else format_threshold(change.old_threshold)
            _finish(
                f"Version {version}'s threshold: {old} -> {format_threshold(change.threshold)}; "
                "decisions use it from the next score."
            )


@st.dialog("Roll back an alias", on_dismiss=_dismiss)
def rollback_dialog(
    settings: Settings, actor: Actor, alias: str, target: int | None, event_id: int
) -> None:
    st.markdown(
        f"**@{escape_markdown(alias)}** goes back to "
        + ("being unset" if target is None else f"version **{target}**")
        + ", where it was before its last move. A rollback is itself a move: "
        "another rollback undoes it."
    )
    reason = st.text_area("Reason (required, kept in the history)", key=f"rollback_reason_{alias}")
    if st.button("Roll back", type="primary", icon=":material/undo:"):
        try:
            move = rollback(
                settings, alias=alias, reason=reason, actor=actor, expected_event=event_id
            )
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            _finish(f"@{alias} rolled back to version {move.to_version}.")


def open_rollback(alias: str, last: HistoryRow) -> None:
    """Open the rollback dialog for ``alias``, as of ``last``: the move the lead sees on
    the page. The rollback is refused if another move has happened since."""
    open_dialog(f"rollback:{alias}")
    st.session_state["rollback_seen"] = last


def render_rollback(settings: Settings, actor: Actor, alias: str) -> None:
    """The rollback dialog, if it is open for ``alias``."""
    last: HistoryRow | None = st.session_state.get("rollback_seen")
    if opened() == f"rollback:{alias}" and last is not None and last.alias == alias:
        rollback_dialog(settings, actor, alias, last.from_version, last.id)


def render_lead_actions(
    settings: Settings,
    actor: Actor,
    *,
    versions: list[int],
    result: Comparison | None,
    evaluation: Evaluation | None,
    aliases: list[str],
    live: int | None,
    evaluation_note: str | None = None,
) -> None:
    """The compare page's promote and threshold buttons (for those who may): any version,
    the first compared one that is not live by default. ``evaluation_note`` is shown in the
    promote dialog (why the gates will not judge on the rows the lead chose)."""
    st.subheader("Actions")
    show_done()
    compared = [c.version for c in result.versions] if result is not None else []
    default = next((v for v in compared if v != live), compared[0] if compared else None)
    left, right = st.columns(2)
    if left.button("Promote...", icon=":material/rocket_launch:", disabled=not versions):
        open_dialog("promote")
    if right.button("Change threshold...", icon=":material/tune:", disabled=not versions):
        open_dialog("threshold")
    if opened() == "promote":
        promote_dialog(settings, actor, versions, aliases, evaluation, default, evaluation_note)
    elif opened() == "threshold":
        threshold_dialog(settings, actor, result, versions, default)
    st.caption(
        "Gates before a move: AUPRC no worse than the current version's minus "
        f"{settings.promote_auprc_tolerance:g} on the evaluation rows above (blocked on "
        "leakage), the model loads and predicts, its signature matches, its threshold is set."
    )
