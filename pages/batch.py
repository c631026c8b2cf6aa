"""Batch scoring: upload a CSV, score every valid row, keep every rejected row with a reason.

The upload goes to disk and the scored rows to a Parquet file (``app.ui.batch_view``), so
the page holds only what it shows."""

import streamlit as st

from app.ui import state
from app.ui.batch_evaluation import show_evaluation
from app.ui.batch_view import (
    SHOWN_ROWS,
    download,
    last_batch,
    receive_upload,
    score_pending,
    show_table,
)
from app.ui.charts import plot_score_histogram
from app.ui.format import escape_markdown
from core.errors import WorkbenchError
from core.schema import count_text
from core.scoring import PROBABILITY
from core.scoring.batch_files import read_columns

st.title(":material/table_view: Batch scoring")
settings = state.settings()
try:
    choice = state.live_model(settings)
except WorkbenchError as exc:
    st.error(f"No live model to score with: {exc}", icon=":material/error:")
    st.stop()
st.caption(
    f"Scoring with **{choice.label}**. Columns: Time, V1..V28, Amount; Class and any other "
    "columns (e.g. transaction_id) are kept. Files up to 1 GB, read in chunks. A file with "
    "Class is also evaluated against its labels."
)

try:
    receive_upload(settings)
    score_pending(settings, choice)
    run = last_batch()
except (WorkbenchError, OSError) as exc:  # the batch folders busy or not writable
    st.error(f"The batch folders cannot be used now: {exc}", icon=":material/error:")
    st.stop()
if run is None:
    st.stop()
result = run.result

st.subheader("Rows")
st.caption(f"Results of **{escape_markdown(run.name)}**.")
a, b, c = st.columns(3)
a.metric("Rows in file", f"{result.rows_in:,}")
b.metric("Scored", f"{result.rows_scored:,}")
c.metric("Rejected", f"{run.rows_rejected:,}")
st.caption(
    f"{count_text(result.rows_in, 'row')} in the file = {result.rows_scored:,} scored + "
    f"{run.rows_rejected:,} rejected. Scored in {result.seconds:.1f} s."
)
for note in result.warnings:
    st.info(note, icon=":material/info:")
if result.audit.spooled:
    st.warning(result.audit.message, icon=":material/cloud_off:")
else:
    st.caption(result.audit.message + ".")

if run.rows_rejected:
    st.subheader("Rejected rows")
    if result.rows_scored == 0:
        st.error("No row could be scored: every row has a problem below.", icon=":material/error:")
    if run.rows_rejected > SHOWN_ROWS:
        st.caption(f"The first {SHOWN_ROWS:,} of {run.rows_rejected:,}; the download has all.")
    # a blank line has no values: empty cells, not "None"
    st.dataframe(result.rejected.fillna(""), hide_index=True, width="stretch")
    download(st, "Rejected rows (CSV)", run, "rejected.csv")

if result.rows_scored:
    st.subheader("Scores")
    a, b, c = st.columns(3)
    a.metric("Alerts", f"{result.alerts:,}")
    b.metric("Alert rate", f"{result.alert_rate:.3%}")
    c.metric("Amount at risk", f"{result.amount_at_risk:,.2f}")
    scores = read_columns(run.files.scored, [PROBABILITY])[PROBABILITY]
    st.plotly_chart(plot_score_histogram(scores, threshold=result.threshold))
    del scores
    if run.labelled:
        show_evaluation(run, threshold=result.threshold)
    st.subheader("Scored rows")
    show_table(run)
    left, right = st.columns(2)
    download(left, "Scored rows (CSV)", run, "scored.csv")
    download(right, "Scored rows (Parquet)", run, "scored.parquet")
    st.caption(
        "Downloads keep the file's row order. In the CSV files, text cells that start like a "
        "spreadsheet formula (=, +, -, @, tab, carriage return) begin with ' so a spreadsheet "
        "shows them rather than running them; the Parquet file keeps every value as it was."
    )
