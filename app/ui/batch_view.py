"""The batch page's parts: the upload copied to disk and released, scoring into a Parquet
file per session, the evaluation of a labelled file, and the table workspace.

Session-state keys (the Explain page uses :func:`last_batch`, :func:`batch_picker_rows`,
:func:`load_batch_row` and :func:`take_row_to_explain`, never these directly):

- ``batch_session``: this browser session's folder name under ``<home>/batches``;
- ``batch_upload_n``: the uploader's key generation (a new key releases the upload);
- ``batch_pending``: a file copied to disk, to be scored on the next run;
- ``batch_run``: the last scored file (:class:`BatchRun`: its files and row accounting);
- ``batch_explain_row``: a row number the batch table asked Explain to open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from app.ui import downloads, state
from app.ui.format import escape_markdown, format_probability
from app.ui.pages import PAGES_DIR
from core.config import Settings
from core.errors import WorkbenchError
from core.schema import INVALID_LABEL, LABEL, count_text, noun_for
from core.scoring import (
    DECISION,
    MODEL_VERSION,
    PROBABILITY,
    REASON_COLUMNS,
    BatchResult,
    ModelChoice,
    score_file,
)
from core.scoring.batch_files import (
    BatchFiles,
    RowFilter,
    export_csv,
    has_label,
    id_column,
    new_batch_files,
    new_session_id,
    query_rows,
    read_columns,
    read_row,
    save_upload,
    sweep_batches,
)
from core.scoring.evaluate import compute_auprc

log = logging.getLogger(__name__)

SESSION = "batch_session"
UPLOAD_GENERATION = "batch_upload_n"
PENDING = "batch_pending"
RUN = "batch_run"
ROW_TO_EXPLAIN = "batch_explain_row"
TABLE_GENERATION = "batch_table_n"
SHOWN_ROWS = 1_000
SHOWN_PROBABILITY = "probability"
"""The table's text column of each score as :func:`format_probability` writes it."""
SCORE_BAR_FORMAT = " "
"""The score bar's number format: none (a printf format without a field prints itself)."""


@dataclass(frozen=True)
class BatchRun:
    """The last file scored in this session: its files on disk and its accounting.

    ``result.scored`` is None (the rows are in ``files.scored``) and ``result.rejected``
    holds at most :data:`SHOWN_ROWS` rejected rows (all of them are in ``files.rejected``).
    """

    files: BatchFiles
    name: str
    result: BatchResult
    rows_rejected: int
    labelled: bool
    id_column: str | None
    auprc: float | None
    sampling_fraction: float | None = None
    """The scoring version's training sampling fraction, when it recorded one."""

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0]


# --------------------------------------------------------------------------- upload


def receive_upload(settings: Settings) -> None:
    """The uploader. A new file is copied to disk in blocks, released from Streamlit's
    memory (the widget gets a new key and the upload store forgets it), and scored from
    disk on the next run, so the upload and the scoring never hold memory together."""
    generation = st.session_state.get(UPLOAD_GENERATION, 0)
    key = f"batch_upload_{generation}"
    upload = st.file_uploader("Transactions CSV", type=["csv", "txt"], key=key)
    if upload is None:
        return
    session = st.session_state.setdefault(SESSION, new_session_id())
    sweep_batches(settings)
    files = new_batch_files(settings, session)
    save_upload(upload, files)
    name, file_id = upload.name, upload.file_id
    # The widget's value (the whole file) would stay in session state until the end of
    # the next run, i.e. through the scoring: st.rerun() ends this run early, and
    # Streamlit forgets a widget's old value only when a run completes. This run's copy
    # shares the upload's bytes (app/ui/upload_memory.py): closing it drops this run's
    # hold; the bytes go when the widget's key changes and the upload store forgets them.
    upload.close()
    del upload
    st.session_state.pop(key, None)
    _release_upload(file_id)
    st.session_state[UPLOAD_GENERATION] = generation + 1
    st.session_state[PENDING] = (files, name)
    st.rerun()


def _release_upload(file_id: str) -> None:
    """Drop the upload's bytes from Streamlit's in-memory upload store now, not when the
    session ends (what ``st.chat_input`` does for its files)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        manager = getattr(ctx, "uploaded_file_mgr", None)
        if ctx is not None and hasattr(manager, "remove_file"):
            manager.remove_file(session_id=ctx.session_id, file_id=file_id)
    except Exception as exc:  # an internal API: if it moves, the new key still releases it
        log.warning("could not release the upload from memory: %s", exc)


def score_pending(settings: Settings, choice: ModelChoice) -> None:
    """Score the file :func:`receive_upload` saved, into a Parquet file beside it. The
    previous results are replaced only when this file is scored."""
    pending = st.session_state.pop(PENDING, None)
    if pending is None:
        return
    files, name = pending
    bar = st.progress(0.0, text=f"Scoring {name}")
    try:
        result = score_file(
            files.upload,
            settings=settings,
            choice=choice,
            source_kind="ui",
            actor=state.actor(),
            input_name=name,
            parquet_out=files.scored,
            progress=lambda fraction, message: bar.progress(fraction, text=message),
        )
    except WorkbenchError as exc:
        files.remove()
        st.error(f"{name}: {exc}", icon=":material/error:")
        return
    finally:
        files.upload.unlink(missing_ok=True)
        bar.empty()
    # The previous results go only now: a file that cannot be scored leaves them in place.
    previous: BatchRun | None = st.session_state.pop(RUN, None)
    if previous is not None:
        previous.files.remove()
    labelled = has_label(files.scored)
    auprc = None
    if labelled and result.rows_scored:
        columns = read_columns(files.scored, [LABEL, PROBABILITY])
        auprc = compute_auprc(columns[LABEL], columns[PROBABILITY])
    st.session_state[RUN] = BatchRun(
        files=files,
        name=name,
        result=replace(result, rejected=result.rejected.head(SHOWN_ROWS)),
        rows_rejected=result.rows_rejected,
        labelled=labelled,
        id_column=id_column(files.scored),
        auprc=auprc,
        sampling_fraction=choice.model.info.sampling_fraction,
    )


# --------------------------------------------------------------------------- for Explain


def last_batch() -> BatchRun | None:
    """The last file scored in this session, None when there is none or its files were
    swept (older than ``WORKBENCH_BATCH_MAX_AGE`` hours)."""
    run: BatchRun | None = st.session_state.get(RUN)
    if run is None:
        return None
    if not run.files.touch():  # kept from the sweep from now on, unless already swept
        st.session_state.pop(RUN, None)
        st.info(
            f"The results of {escape_markdown(run.name)} were removed (unused for "
            f"{state.settings().batch_max_age:g} hours, `WORKBENCH_BATCH_MAX_AGE`): upload "
            "the file again.",
            icon=":material/history:",
        )
        return None
    return run


def batch_picker_rows(run: BatchRun, *, include: int | None = None) -> pd.DataFrame:
    """The top :data:`SHOWN_ROWS` scored rows (``row``, the score, ``Class`` if any and the
    decision), highest score first, plus row ``include`` when it is not among them."""
    rows = query_rows(run.files.scored, limit=SHOWN_ROWS).rows
    if include is not None and include not in set(rows["row"]):
        rows = pd.concat([rows, read_row(run.files.scored, include).to_frame().T])
    keep = ["row", PROBABILITY, *([LABEL] if run.labelled else []), DECISION]
    return rows[keep].reset_index(drop=True)


def load_batch_row(run: BatchRun, row: int) -> pd.Series:
    """One scored row of the batch by its row number in the file."""
    return read_row(run.files.scored, row)


def take_row_to_explain() -> int | None:
    """The row the batch table asked Explain to open, once (then it is forgotten)."""
    return st.session_state.pop(ROW_TO_EXPLAIN, None)


# --------------------------------------------------------------------------- table


def table_frame(rows: pd.DataFrame, run: BatchRun) -> pd.DataFrame:
    """What the analyst reads: row, id, score, label, decision in words, the reasons
    (blank for non-alerts), then the rest in the file's order."""
    shown = rows.copy()
    shown[DECISION] = shown[DECISION].map({1: "alert", 0: "no alert"})
    for name in REASON_COLUMNS:
        if name in shown:
            shown[name] = shown[name].astype("string").fillna("")
    if LABEL in shown:
        shown[LABEL] = shown[LABEL].astype("Int8")
    if INVALID_LABEL in shown:
        shown[INVALID_LABEL] = shown[INVALID_LABEL].astype("string").fillna("")
    # the bar sorts by the number; the text has only the digits the number has ("> 99.9%")
    shown[SHOWN_PROBABILITY] = [format_probability(float(p)) for p in shown[PROBABILITY]]
    first = [
        "row",
        *([run.id_column] if run.id_column else []),
        PROBABILITY,
        SHOWN_PROBABILITY,
        *([LABEL, INVALID_LABEL] if run.labelled else []),
        DECISION,
        *REASON_COLUMNS,
        "Amount",
        MODEL_VERSION,
        "Time",
    ]
    first = [name for name in first if name in shown]
    return shown[[*first, *(c for c in shown.columns if c not in first)]]


def show_table(run: BatchRun) -> None:
    """Filters over the whole file, the top rows that pass, and a row click to Explain."""
    left, middle, right = st.columns([1, 1.5, 1.5])  # the label's three options unclipped
    decision = left.segmented_control(
        "Decision", ["alert", "no alert"], key="batch_filter_decision"
    )
    labels = ["fraud", "legitimate", "unlabelled"] if run.labelled else []
    label = middle.segmented_control(
        "Label (Class)", labels, key="batch_filter_label", disabled=not run.labelled
    )
    what = f"transaction id ({run.id_column})" if run.id_column else "row number"
    search = right.text_input(f"Search by {what}", key="batch_search")
    page = query_rows(
        run.files.scored,
        RowFilter(decision=decision, label=label, search=search or ""),
        limit=SHOWN_ROWS,
    )
    shown_rows = min(SHOWN_ROWS, page.matching)
    st.caption(
        f"{page.matching:,} of {count_text(run.result.rows_scored, 'scored row')} "
        + (
            "match: no row to show."
            if page.matching == 0
            else f"{noun_for(page.matching, 'matches', 'match')}; "
            + (
                "all are shown, highest score first."
                if shown_rows == page.matching
                else f"the {shown_rows:,} highest scores are shown."
            )
            + " Click a row to open it on Explain."
        )
    )
    shown = table_frame(page.rows, run)
    generation = st.session_state.get(TABLE_GENERATION, 0)
    event = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"batch_table_{generation}",
        column_config={
            # a bar without a number (format " "): rounded to fixed digits it read
            # "1.0000" for 0.9999996; the text beside it has the digits the number has
            PROBABILITY: st.column_config.ProgressColumn(
                "score",
                format=SCORE_BAR_FORMAT,
                min_value=0.0,
                max_value=1.0,
                help="The fraud probability as a bar; click the header to sort by it",
            ),
            SHOWN_PROBABILITY: st.column_config.TextColumn(
                SHOWN_PROBABILITY, help="The probability with the digits it has"
            ),
            # wide enough for "V14 = -9.12 (+2.31)": cut short, the contribution was lost
            **{name: st.column_config.TextColumn(name, width="large") for name in REASON_COLUMNS},
        },
    )
    picked = event.selection.rows if event is not None else []
    if picked:
        open_on_explain(int(shown.iloc[picked[0]]["row"]))


def open_on_explain(row: int) -> None:
    """Ask Explain for ``row`` and go there (the table gets a new key, so coming back
    does not jump again)."""
    st.session_state[ROW_TO_EXPLAIN] = row
    st.session_state[TABLE_GENERATION] = st.session_state.get(TABLE_GENERATION, 0) + 1
    st.switch_page(PAGES_DIR / "explain.py")


# --------------------------------------------------------------------------- downloads


def download(where, label: str, run: BatchRun, kind: str) -> None:  # type: ignore[no-untyped-def]
    """One of the run's results (a key of ``downloads.KINDS``) as ``<file>.<kind>``.

    Served by ``app/serve.py``, it is a link to the download route, which streams the file
    from disk (``app/ui/downloads.py``). Otherwise (``streamlit run app/main.py``, AppTest)
    it is a button whose bytes are made only when clicked (clicking does not rerun the
    page) and which Streamlit holds in memory while it serves them.
    """
    name = f"{run.stem}.{kind}"
    url = downloads.link(run.files, kind, name)
    if url is not None:
        where.link_button(label, url, icon=":material/download:")
        return
    make = {
        "scored.csv": lambda: scored_csv(run),
        "rejected.csv": lambda: rejected_csv(run),
        "scored.parquet": lambda: run.files.scored.read_bytes(),
    }[kind]
    where.download_button(
        label,
        data=make,
        file_name=name,
        mime=downloads.KINDS[kind].media_type,
        icon=":material/download:",
        on_click="ignore",
    )


def scored_csv(run: BatchRun) -> bytes:
    """The scored rows as a spreadsheet-safe CSV, written from the Parquet file batch by
    batch (once; kept beside it)."""
    out = run.files.folder / "scored.csv"
    if not out.is_file():
        export_csv(run.files.scored, out)
    return out.read_bytes()


def rejected_csv(run: BatchRun) -> bytes:
    """The rejected rows (raw text) as a spreadsheet-safe CSV."""
    out = run.files.folder / "rejected.csv"
    if not out.is_file():
        export_csv(run.files.rejected, out)
    return out.read_bytes()
