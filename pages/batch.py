"""Batch scoring: upload a CSV, score every valid row, keep every rejected row with a reason."""

import pandas as pd
import streamlit as st

from app.ui import state
from app.ui.charts import plot_score_histogram
from core.errors import WorkbenchError
from core.output import to_csv_bytes, to_parquet_bytes
from core.scoring import PROBABILITY, result_columns, score_file

SHOWN_ROWS = 1_000


def _download(where, label: str, data, file_name: str, mime: str) -> None:  # type: ignore[no-untyped-def]
    """A download whose bytes are made only when clicked; clicking does not rerun the page."""
    where.download_button(
        label,
        data=data,
        file_name=file_name,
        mime=mime,
        icon=":material/download:",
        on_click="ignore",
    )


st.title(":material/table_view: Batch scoring")
settings = state.settings()
try:
    choice = state.live_model(settings)
except WorkbenchError as exc:
    st.error(f"No live model to score with: {exc}", icon=":material/error:")
    st.stop()
st.caption(
    f"Scoring with **{choice.label}**. Columns: Time, V1..V28, Amount; Class and any other "
    "columns (e.g. transaction_id) are kept. Files up to 1 GB, read in chunks."
)

upload = st.file_uploader("Transactions CSV", type=["csv", "txt"], key="batch_upload")
if upload is not None and st.session_state.get("batch_file_id") != upload.file_id:
    bar = st.progress(0.0, text=f"Scoring {upload.name}")
    try:
        st.session_state["batch_result"] = score_file(
            upload,
            settings=settings,
            choice=choice,
            source_kind="ui",
            actor=state.actor(),
            input_name=upload.name,
            progress=lambda fraction, message: bar.progress(fraction, text=message),
        )
        st.session_state["batch_name"] = upload.name
    except WorkbenchError as exc:
        st.session_state.pop("batch_result", None)
        st.error(f"{upload.name}: {exc}", icon=":material/error:")
    st.session_state["batch_file_id"] = upload.file_id
    bar.empty()

result = st.session_state.get("batch_result")
if result is None:
    st.stop()
stem = st.session_state["batch_name"].rsplit(".", 1)[0]

st.subheader("Rows")
a, b, c = st.columns(3)
a.metric("Rows in file", f"{result.rows_in:,}")
b.metric("Scored", f"{result.rows_scored:,}")
c.metric("Rejected", f"{result.rows_rejected:,}")
st.caption(
    f"{result.rows_in:,} rows in the file = {result.rows_scored:,} scored + "
    f"{result.rows_rejected:,} rejected. Scored in {result.seconds:.1f} s."
)
for note in result.warnings:
    st.info(note, icon=":material/info:")
if result.audit.spooled:
    st.warning(result.audit.message, icon=":material/cloud_off:")
else:
    st.caption(result.audit.message + ".")

if result.rows_rejected:
    st.subheader("Rejected rows")
    if result.rows_scored == 0:
        st.error("No row could be scored: every row has a problem below.", icon=":material/error:")
    st.dataframe(result.rejected, hide_index=True, width="stretch")
    _download(
        st,
        "Rejected rows (CSV)",
        lambda: to_csv_bytes(result.rejected),
        f"{stem}.rejected.csv",
        "text/csv",
    )

if result.rows_scored:
    scored: pd.DataFrame = result.scored
    st.subheader("Scores")
    a, b, c = st.columns(3)
    a.metric("Alerts", f"{result.alerts:,}")
    b.metric("Alert rate", f"{result.alert_rate:.3%}")
    c.metric("Amount at risk", f"{result.amount_at_risk:,.2f}")
    st.plotly_chart(
        plot_score_histogram(scored[PROBABILITY].to_numpy(), threshold=result.threshold)
    )
    st.caption(f"Highest scores first; the first {min(SHOWN_ROWS, len(scored)):,} rows are shown.")
    # What an analyst reads first goes left; the downloads keep the file's own order.
    first = ["row", *result_columns(scored), "Amount", "Time"]
    shown = scored.head(SHOWN_ROWS)
    st.dataframe(
        shown[[*first, *(c for c in shown.columns if c not in first)]],
        hide_index=True,
        width="stretch",
        column_config={
            PROBABILITY: st.column_config.ProgressColumn(
                "fraud_probability", format="%.4f", min_value=0.0, max_value=1.0
            )
        },
    )
    left, right = st.columns(2)
    _download(
        left, "Scored rows (CSV)", lambda: to_csv_bytes(scored), f"{stem}.scored.csv", "text/csv"
    )
    _download(
        right,
        "Scored rows (Parquet)",
        lambda: to_parquet_bytes(scored),
        f"{stem}.scored.parquet",
        "application/vnd.apache.parquet",
    )
