"""The Score page's parts: its three inputs, each with the key its result belongs to, the
test-split picker, and the result with why."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from app.ui.charts import plot_probability_gauge, plot_waterfall
from app.ui.format import escape_markdown, format_probability
from core.data import parse_record
from core.errors import WorkbenchError
from core.explain import Reason, compute_reasons
from core.registry import format_threshold
from core.schema import FEATURES, LABEL, NON_NEGATIVE, ROW, count_text, noun_for
from core.scoring import ID_COLUMNS, PROBABILITY, SingleResult

RESULT = "score_result"
"""Session key of the last result (the Explain page offers it as "Last scored transaction")."""
RESULT_INPUT = "score_result_input"
"""Session key of the input the result came from (see :func:`forget_stale_result`)."""
PICKED_ROW = "score_picked_row"
"""Session key prefix of the test-split row (its ``row`` number) picked in the table:
``score_picked_row_v{version}`` (see :func:`pick_split_row`)."""
LABELS = {"All": None, "Fraud": 1, "Legitimate": 0}


def forget_stale_result(input_key: Hashable) -> None:
    """Drop the result unless it came from ``input_key``, the input now on screen.

    Every run computes the key of what is entered (the mode and its values): a result stays
    only under the input that produced it, so an invalid paste or another input mode never
    shows the previous transaction's probability.
    """
    if st.session_state.get(RESULT_INPUT) != input_key:
        st.session_state.pop(RESULT, None)
        st.session_state.pop(RESULT_INPUT, None)


def keep_result(result: SingleResult, input_key: Hashable) -> None:
    st.session_state[RESULT] = result
    st.session_state[RESULT_INPUT] = input_key


KEPT = "kept_"
"""Prefix of the copies of the inputs: Streamlit drops a widget's own key when another
input mode hides it, so the values come back from these copies."""


def form_input(medians: Mapping[str, float]) -> tuple[dict | None, Hashable]:
    """The 30-field form: (the record when submitted, the key of the values shown)."""
    with st.form("score_form"):
        st.caption("Defaults are the training medians. V1..V28 are anonymised PCA components.")
        columns = st.columns(5)
        values = {}
        for i, name in enumerate(FEATURES):
            with columns[i % 5]:
                values[name] = st.number_input(
                    name,
                    value=float(st.session_state.get(f"{KEPT}form_{name}", medians[name])),
                    min_value=0.0 if name in NON_NEGATIVE else None,
                    format="%.2f" if name == "Amount" else "%.0f" if name == "Time" else "%.4f",
                    key=f"form_{name}",
                )
        submitted = st.form_submit_button("Score", icon=":material/bolt:", type="primary")
    for name, value in values.items():
        st.session_state[f"{KEPT}form_{name}"] = value
    return (values if submitted else None), ("Form", tuple(values.values()))


def paste_input() -> tuple[dict | None, Hashable]:
    """A pasted CSV row or JSON object: (the record when Score is clicked and it parses,
    the key of the text). A text that does not parse is named in an error."""
    text = st.text_area(
        "One CSV row (30 values in the order Time, V1..V28, Amount; a header line is optional) "
        "or a JSON object",
        value=st.session_state.get(f"{KEPT}score_paste", ""),
        key="score_paste",
        height=120,
        placeholder='{"Time": 406, "V1": -2.31, ..., "Amount": 0.0}',
    )
    st.session_state[f"{KEPT}score_paste"] = text
    record = None
    if st.button("Score", icon=":material/bolt:", type="primary", key="score_paste_go"):
        try:
            record = parse_record(text)
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
    return record, ("Paste", text)


def filter_split(
    scored: pd.DataFrame, *, label: int | None, low: float, high: float
) -> pd.DataFrame:
    """The rows of a scored test split with that label (None: any) and a probability in
    [low, high], highest probability first."""
    keep = scored[PROBABILITY].between(low, high)
    if label is not None:
        keep &= scored[LABEL] == label
    return scored.loc[keep].sort_values(PROBABILITY, ascending=False, kind="stable")


def _pick(table_key: str, picked_key: str, rows: list[int]) -> None:
    """The table's selection callback: remember the clicked row by its ``row`` number, so a
    later filter cannot turn the same position into another transaction."""
    selected = st.session_state[table_key]["selection"]["rows"]
    if selected:
        st.session_state[picked_key] = rows[selected[0]]


def _label_text(value: object) -> str:
    return "unlabelled" if pd.isna(value) else "fraud" if int(value) == 1 else "legitimate"


def id_column(frame: pd.DataFrame) -> str | None:
    """The frame's transaction id column, the first of ``ID_COLUMNS`` it has (as a batch
    file's, :func:`core.scoring.batch_files.id_column`), or None."""
    return next((name for name in ID_COLUMNS if name in frame.columns), None)


def transaction_name(row: pd.Series) -> str:
    """How a test-split or batch row is named to people: by its transaction id when the
    data has one (``transaction_id tx-0042``), else by its row number (``row 7``)."""
    column = next((name for name in ID_COLUMNS if name in row.index), None)
    if column is not None and not pd.isna(row[column]) and str(row[column]) != "":
        return f"{column} {row[column]}"
    return f"row {int(row[ROW])}"


def picker_table(frame: pd.DataFrame) -> pd.DataFrame:
    """What the picker shows of each row: number, transaction id (where the data has one),
    label, probability (as text), Amount, Time."""
    ids = id_column(frame)
    return pd.DataFrame(
        {
            ROW: frame[ROW].to_numpy(),
            **({ids: frame[ids].astype("string").to_numpy()} if ids else {}),
            "label": [_label_text(v) for v in frame[LABEL]],
            "fraud probability": [format_probability(p) for p in frame[PROBABILITY]],
            "Amount": frame["Amount"].to_numpy(),
            "Time": frame["Time"].to_numpy(),
        }
    )


def pick_split_row(
    scored: pd.DataFrame, *, key: str, picked_key: str, version: int
) -> tuple[pd.Series | None, pd.DataFrame]:
    """The test-split picker (Score and Explain): filter by label and probability range,
    then click a row of the table.

    Args:
        scored: the scored test split (``app.ui.ranks.scored_test_split``).
        key: prefix of the widgets' keys (``{key}_label``, ``{key}_range``, the table's).
        picked_key: where the clicked row's ``row`` number is kept: the session key
            ``{picked_key}_v{version}``.
        version: the version whose test split ``scored`` is. A row clicked in one
            version's split is not shown as picked in another's: their ``row`` numbers
            name other transactions.

    Returns:
        The clicked row (None before a click, or when it is no longer in ``scored``) and
        the rows the table shows, highest probability first.
    """
    st.caption(
        f"{count_text(len(scored), 'row')} the model was evaluated on "
        f"({count_text(int(scored[LABEL].sum()), 'fraud')}). "
        "Filter, then click a row to pick it."
    )
    left, right = st.columns([1, 2])
    label = left.segmented_control(
        "Label", list(LABELS), default="All", required=True, key=f"{key}_label"
    )
    low, high = right.slider(
        "Fraud probability between", 0.0, 1.0, (0.0, 1.0), step=0.01, key=f"{key}_range"
    )
    shown = filter_split(scored, label=LABELS.get(label or "All"), low=low, high=high)
    st.caption(
        f"{count_text(len(shown), 'row')} {noun_for(len(shown), 'matches', 'match')}, highest "
        "probability first."
    )
    # A new table (and selection) per filter: a kept selection would point at another row.
    table_key = f"{key}_table_v{version}_{label}_{low}_{high}"
    picked_key = f"{picked_key}_v{version}"
    st.dataframe(
        picker_table(shown),
        hide_index=True,
        width="stretch",
        height=280,
        key=table_key,
        on_select=partial(_pick, table_key, picked_key, shown[ROW].tolist()),
        selection_mode="single-row",
        column_config={
            "Amount": st.column_config.NumberColumn(format="%.2f"),
            "Time": st.column_config.NumberColumn(format="%d"),
        },
    )
    picked = st.session_state.get(picked_key)
    if picked is None or picked not in set(scored[ROW]):
        return None, shown
    return scored.loc[scored[ROW] == picked].iloc[0], shown


def test_split_input(scored: pd.DataFrame, version: int) -> tuple[dict | None, Hashable]:
    """A filterable table of ``version``'s test split; click a row, then Score it."""
    row, _ = pick_split_row(scored, key="score_pick", picked_key=PICKED_ROW, version=version)
    if row is None:
        st.info("Click a row of the table to pick it.", icon=":material/ads_click:")
        return None, ("Test split", version, None)
    st.markdown(
        f"Picked **{escape_markdown(transaction_name(row))}** ({_label_text(row[LABEL])}, "
        f"fraud probability {format_probability(float(row[PROBABILITY]))} when the split "
        "was scored)."
    )
    go = st.button("Score", icon=":material/bolt:", type="primary", key="score_pick_go")
    record = {name: float(row[name]) for name in FEATURES} if go else None
    return record, ("Test split", version, int(row[ROW]))


def _reason_lines(reasons: list[Reason]) -> str:
    return "\n".join(f"- {reason}" for reason in reasons) or "- none"


def show_result(result: SingleResult, *, rank: str | None) -> None:
    """The gauge and decision, the reasons both ways, and the waterfall."""
    st.divider()
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(plot_probability_gauge(result.probability, threshold=result.threshold))
    with right:
        shown = format_probability(result.probability)
        if result.decision:
            st.error(
                f"**Alert**: fraud probability {shown}, at or above the threshold "
                f"{format_threshold(result.threshold)}",
                icon=":material/warning:",
            )
        else:
            st.success(
                f"**No alert**: fraud probability {shown}, below the threshold "
                f"{format_threshold(result.threshold)}",
                icon=":material/check_circle:",
            )
        if rank:
            st.markdown(f"Rank: **{rank}**")
        st.markdown(f"Model: **{result.model_label}**")
        if result.decision and result.reasons:
            st.markdown("**Top reasons toward fraud:** " + "; ".join(map(str, result.reasons)))
        if result.audit.spooled:
            st.warning(result.audit.message, icon=":material/cloud_off:")
        else:
            st.caption(f"Recorded in the audit log (event `{result.audit.event_uid}`).")
    st.subheader("Why this score")
    if result.contributions is None:  # a version trained elsewhere that shap cannot explain
        st.info(f"No reasons: {result.explanation_problem}", icon=":material/info:")
        return
    show_why(result.contributions, np.array([result.features[n] for n in FEATURES]))


def show_why(contributions, values: np.ndarray, *, top: int = 5) -> None:  # type: ignore[no-untyped-def]
    """What pushed one row's score up and what pulled it down: the waterfall, then both
    lists (red toward fraud, blue toward legitimate)."""
    x = values[None, :]
    up = compute_reasons(contributions, x, top=top)[0]
    down = compute_reasons(contributions, x, top=top, toward_fraud=False)[0]
    st.plotly_chart(
        plot_waterfall(
            contributions.values[0],
            float(contributions.base[0]),
            values,
            names=list(FEATURES),
            scale=contributions.scale,
        )
    )
    a, b = st.columns(2)
    a.markdown(":red[**Pushed toward fraud**]\n" + _reason_lines(up))
    b.markdown(":blue[**Pulled toward legitimate**]\n" + _reason_lines(down))
    st.caption(
        f"Contributions in {contributions.scale} (SHAP values); base value + contributions = "
        "the model's output. V1..V28 are anonymised PCA components: their names carry no "
        "business meaning. More on the Explain page."
    )
