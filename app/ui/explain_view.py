"""The Explain page's parts: where its transaction comes from (a batch row, a test-split
row, the last scored one), the row with its what-if, and the caption of the global views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.ui import batch_view, ranks, whatif
from app.ui.batch_view import BatchRun
from app.ui.charts import plot_waterfall
from app.ui.explain_images import beeswarm_figure, dependence_figure, to_png
from app.ui.format import escape_markdown, format_probability, format_value
from app.ui.score_view import pick_split_row, show_why, transaction_name
from core.config import Settings
from core.errors import InputError, WorkbenchError
from core.explain import GlobalExplanation
from core.provenance import get_provenance
from core.registry import LoadedModel, ModelVersionInfo, format_threshold
from core.schema import FEATURES, LABEL, ROW
from core.scoring import PROBABILITY, RowExplanation, explain_record
from core.scoring.batch_files import read_ids

SOURCE = "explain_source"
"""Session key of the transaction source (segmented control)."""
BATCH_ROW = "explain_batch_row"
"""Session key of the chosen batch row (its ``row`` number in the file)."""
OPEN_BATCH_ROW = batch_view.ROW_TO_EXPLAIN
"""Set this to a batch ``row`` number, then ``st.switch_page("pages/explain.py")``: the page
opens on that row of the last batch (the Batch page's table does this on a click)."""
LAST_BATCH = "Last batch"
TEST_PICK = "explain_pick"
"""Key prefix of the test-split picker's widgets (``explain_pick_label``, ``..._range``)."""
TEST_ROW = "explain_picked_row"
"""Session key prefix of the test-split row (its ``row`` number) clicked in the picker's
table: ``explain_picked_row_v{version}`` (see ``pick_split_row``)."""


def last_batch() -> BatchRun | None:
    """The last batch scored in this session, if it has scored rows (its files on disk)."""
    run = batch_view.last_batch()
    if run is None or not run.result.rows_scored:
        return None
    return run


def open_batch_row(row: int) -> None:
    """Ask the Explain page to open ``row`` of the last batch (call, then switch page)."""
    st.session_state[OPEN_BATCH_ROW] = int(row)


def take_open_request(batch: BatchRun | None) -> None:
    """Honour :func:`open_batch_row` once: select the batch source and that row (a row the
    batch does not hold is said, not silently replaced by another)."""
    row = batch_view.take_row_to_explain()
    if row is None:
        return
    try:
        if batch is None:
            raise InputError("no batch")
        batch_view.load_batch_row(batch, row)
    except InputError:
        st.warning(
            f"Row {row} is not among the last batch's scored rows.", icon=":material/warning:"
        )
        return
    st.session_state[SOURCE] = LAST_BATCH
    st.session_state[BATCH_ROW] = row


def label_text(value: object) -> str:
    if value is None or pd.isna(value):
        return "unlabelled"
    return "fraud" if int(value) == 1 else "legitimate"


def pick_batch_row(batch: BatchRun) -> pd.Series:
    """A selectbox of the batch's top rows (highest score first), each named by its
    transaction id where the file has an id column (else its row number), with score and
    label; the row asked for (a click in the batch table) is included wherever it ranks."""
    picker = batch_view.batch_picker_rows(batch, include=st.session_state.get(BATCH_ROW))
    by_row = picker.set_index(ROW)
    has_label = LABEL in picker
    # the picker's rows carry no id (batch_view keeps row, score, label, decision): read
    # the ids of those rows alone, two columns of the file
    ids = read_ids(batch.files.scored, [int(n) for n in picker[ROW]]) if batch.id_column else {}

    def describe(n: int) -> str:
        name = f"{batch.id_column} {ids[n]}" if n in ids else f"row {n}"
        text = f"{name} · {format_probability(float(by_row.at[n, PROBABILITY]))}"
        return f"{text} · {label_text(by_row.at[n, LABEL])}" if has_label else text

    picked = st.selectbox(
        f"Row of {escape_markdown(batch.name)} (highest score first)",
        [int(n) for n in picker[ROW]],
        key=BATCH_ROW,
        format_func=describe,
    )
    return batch_view.load_batch_row(batch, picked)


def pick_test_row(scored: pd.DataFrame, version: int) -> pd.Series | None:
    """A row of the version's test split, picked in the Score page's table (filter by label
    and probability, click a row); before a click, the table's first row (the highest
    score shown). None when no row passes the filter."""
    row, shown = pick_split_row(scored, key=TEST_PICK, picked_key=TEST_ROW, version=version)
    if row is None:
        if not len(shown):
            st.info("No row of the test split passes the filter.", icon=":material/info:")
            return None
        row = shown.iloc[0]
        clicked = "the table's first row; click a row to explain another"
    else:
        clicked = "clicked in the table"
    st.caption(
        f"Explaining {escape_markdown(transaction_name(row))} of the test split "
        f"({clicked}): {label_text(row.get(LABEL))}, fraud probability "
        f"{format_probability(float(row[PROBABILITY]))}."
    )
    return row


def _verdict(probability: float, threshold: float | None) -> str:
    if threshold is None:
        return "no decision"
    return f"{'alert' if probability >= threshold else 'no alert'} at {format_threshold(threshold)}"


def headline(
    explained: RowExplanation, *, threshold: float | None, rank: str | None, label: object
) -> str:
    parts = [
        f"Fraud probability **{format_probability(explained.probability)}** "
        f"({_verdict(explained.probability, threshold)})"
    ]
    if rank:
        parts.append(rank)
    if label is not None and not pd.isna(label):
        parts.append(f"label in data: **{label_text(label)}**")
    return "; ".join(parts)


def value_table(
    explained: RowExplanation,
    reference,  # type: ignore[no-untyped-def]  # ReferenceStats | None
    edited: RowExplanation | None,
) -> None:
    """Each feature's value and contribution beside the training medians (and the what-if's),
    largest |contribution| first, full width so no column is cut off."""
    columns: dict[str, list] = {
        "feature": list(FEATURES),
        "value": [format_value(n, v) for n, v in zip(FEATURES, explained.features, strict=True)],
        "contribution": explained.contributions.values[0].tolist(),
    }
    if edited is not None:
        columns["what-if value"] = [
            format_value(n, v) for n, v in zip(FEATURES, edited.features, strict=True)
        ]
        columns["what-if contribution"] = edited.contributions.values[0].tolist()
    if reference is not None:
        stats = reference.features
        columns["fraud median"] = [format_value(n, stats[n].median_fraud) for n in FEATURES]
        columns["legitimate median"] = [format_value(n, stats[n].median_legit) for n in FEATURES]
    table = pd.DataFrame(columns).sort_values("contribution", key=np.abs, ascending=False)
    contribution = st.column_config.NumberColumn(format="%+.3f")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=35 * (len(table) + 1) + 3,  # every feature, no inner scrolling
        column_config={"contribution": contribution, "what-if contribution": contribution},
    )


def show_row(
    row: pd.Series,
    *,
    row_id: object,
    model: LoadedModel,
    threshold: float | None,
    reference,  # type: ignore[no-untyped-def]  # ReferenceStats | None
    rank_of,  # type: ignore[no-untyped-def]  # probability -> rank text or None
) -> RowExplanation:
    """One transaction: headline, the waterfall with reasons both ways, the what-if beside
    it, and the table of values.

    Raises:
        ExplanationUnavailableError: the version cannot be explained.
    """
    record = {name: float(row[name]) for name in FEATURES}
    explained = explain_record(record, model=model)
    st.markdown(
        headline(
            explained,
            threshold=threshold,
            rank=rank_of(explained.probability),
            label=row.get(LABEL),
        )
    )
    if threshold is not None and explained.probability >= threshold and explained.toward_fraud:
        st.markdown("**Top reasons toward fraud:** " + "; ".join(map(str, explained.toward_fraud)))
    with st.expander("What-if: change features of this transaction", icon=":material/tune:"):
        edit = whatif.edit_inputs(row_id, explained.features)
    edited = None
    if edit is not None:
        try:
            edited = explain_record(edit, model=model)
        except WorkbenchError as exc:
            st.error(f"What-if: {exc}", icon=":material/error:")
    if edited is None:
        show_why(explained.contributions, explained.features)
    else:
        _side_by_side(explained, edited, threshold=threshold, rank_of=rank_of)
    value_table(explained, reference, edited)
    return explained


def _side_by_side(
    original: RowExplanation,
    edited: RowExplanation,
    *,
    threshold: float | None,
    rank_of,  # type: ignore[no-untyped-def]
) -> None:
    pairs = {"As recorded": original, "What-if": edited}
    figures = {
        title: plot_waterfall(
            explained.contributions.values[0],
            float(explained.contributions.base[0]),
            explained.features,
            names=list(FEATURES),
            scale=explained.contributions.scale,
        )
        for title, explained in pairs.items()
    }
    # One x range for both, so a bar's length compares across the two.
    ends = [x for figure in figures.values() for x in _waterfall_extent(figure)]
    pad = 0.05 * (max(ends) - min(ends) or 1.0)
    for (title, explained), where in zip(pairs.items(), st.columns(2), strict=True):
        rank = rank_of(explained.probability)
        where.markdown(
            f"**{title}**: fraud probability **{format_probability(explained.probability)}** "
            f"({_verdict(explained.probability, threshold)})" + (f"; {rank}" if rank else "")
        )
        figures[title].update_xaxes(range=[min(ends) - pad, max(ends) + pad])
        where.plotly_chart(figures[title], key=f"explain_waterfall_{title}")


def _waterfall_extent(figure) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The smallest and largest x a horizontal waterfall's bars reach."""
    trace = figure.data[0]
    path = float(trace.base) + np.cumsum([0.0, *trace.x[:-1]])
    return float(path.min()), float(path.max())


@st.cache_data(ttl=300, show_spinner=False)
def data_caption(settings: Settings, info: ModelVersionInfo) -> str:
    """Which data the version was trained on (its provenance record), synthetic or real."""
    try:
        provenance = get_provenance(info, settings=settings)
    except WorkbenchError:
        return "training data not recorded"
    if provenance.dataset is None:
        return "training data not recorded"
    origin = {
        True: "**synthetic demo data**",
        False: "real data",
        None: "data whose origin (synthetic or real) is not recorded",
    }[provenance.synthetic]
    return f"trained on {escape_markdown(provenance.dataset)}, {origin}"


def rank_function(settings: Settings, version: int):  # type: ignore[no-untyped-def]
    """probability -> "top 0.2% of version N's test split (...)" (None without a split)."""
    return lambda probability: ranks.rank_text(settings, version, probability)


@st.cache_data(show_spinner=False, max_entries=16)
def beeswarm_image(
    settings: Settings, version: int, _explanation: GlobalExplanation, order: tuple[str, ...]
) -> bytes:
    """The beeswarm of ``version``'s global explanation as a PNG, drawn once per version and
    feature list (a version's explanation does not change)."""
    return to_png(beeswarm_figure(_explanation.features, _explanation.contributions, list(order)))


@st.cache_data(show_spinner=False, max_entries=64)
def dependence_image(
    settings: Settings, version: int, _explanation: GlobalExplanation, feature: str, color_by: str
) -> bytes:
    """The dependence plot of ``feature`` coloured by ``color_by``, as a PNG, drawn once per
    version and choice."""
    return to_png(
        dependence_figure(_explanation.features, _explanation.contributions, feature, color_by)
    )
