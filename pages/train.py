"""Train: an ML lead trains a new version on a labelled CSV. Listed for ML leads only;
core refuses anyone else anyway."""

import shutil
import tempfile
from pathlib import Path

import streamlit as st

from app.ui import state
from app.ui.format import HEADLINE_METRICS, format_headline, format_metric
from core.errors import WorkbenchError
from core.registry import format_threshold
from core.training import MODEL_KINDS, train_from_csv

KIND_LABELS = {"lightgbm": "LightGBM (default)", "logreg": "Logistic regression (baseline)"}

st.title(":material/model_training: Train a model")
settings, actor = state.settings(), state.actor()
st.caption(
    "Upload a labelled CSV (Time, V1..V28, Amount, Class). Rows are split by Time into "
    "train / validation / test (60 / 20 / 20); early stopping and the decision threshold "
    "use validation only, and the metrics are on test. The new version is registered as "
    f"**{settings.model_name}**; the alias **@{settings.live_alias}** moves only if it is "
    "unset (promotion is a separate, recorded step)."
)
try:
    live = state.live_version(settings)
except WorkbenchError as exc:  # training needs the same stores: say so before the upload
    st.error(f"The model registry cannot be read: {exc}", icon=":material/error:")
else:
    if live is not None:
        st.caption(
            f"Live now: version **{live.version}** ({live.model_kind}), test AUPRC "
            f"{format_metric(live.metrics.get('auprc'))}."
        )

upload = st.file_uploader("Labelled transactions CSV", type=["csv", "txt"], key="train_upload")
kind = st.radio("Model", MODEL_KINDS, format_func=KIND_LABELS.get, horizontal=True)
fraction = st.number_input(
    "Sampling fraction of legitimate rows",
    min_value=0.0,
    max_value=1.0,
    value=1.0,
    format="%.6f",
    help="The share of legitimate rows the file keeps (1 = all, every fraud is assumed kept); "
    "e.g. 4920 / 284315 = 0.017305 for the ULB sample. Stored with the version: its metrics "
    "are also shown weighted to the natural prevalence.",
)
synthetic = st.checkbox(
    "Synthetic data",
    help="The file was generated (workbench generate), not real transactions: the version "
    "is shown with a synthetic demo data badge, its AUPRC not comparable with a real sample's.",
)
if st.button("Train", icon=":material/play_arrow:", type="primary", disabled=upload is None):
    bar = st.progress(0.0, text="Starting")
    try:
        with tempfile.TemporaryDirectory(prefix="workbench-train-") as folder:
            # train_from_csv reads a path and records the file's name with the run
            path = Path(folder) / (Path(upload.name).name or "upload.csv")
            with path.open("wb") as handle:
                shutil.copyfileobj(upload, handle)
            result = train_from_csv(
                path,
                settings=settings,
                model_kind=kind,
                progress=lambda fraction, message: bar.progress(fraction, text=message),
                actor=actor,
                sampling_fraction=fraction,
                synthetic=synthetic,
            )
    except WorkbenchError as exc:
        st.error(f"{upload.name}: {exc}", icon=":material/error:")
    except OSError as exc:  # the upload could not be staged (disk full, no temp folder)
        st.error(f"{upload.name} could not be staged for training: {exc}", icon=":material/error:")
    else:
        st.session_state["train_result"] = result
        state.clear()
    bar.empty()

result = st.session_state.get("train_result")
if result is not None:
    st.success(
        f"Registered **{result.model_name}** version **{result.version}** ({result.model_kind}), "
        f"run `{result.run_id}`"
        + (f"; alias **@{result.alias_set}** set to it." if result.alias_set else "."),
        icon=":material/check:",
    )
    metrics = result.metrics.as_dict()
    for column, (key, label) in zip(
        st.columns(len(HEADLINE_METRICS)), HEADLINE_METRICS, strict=True
    ):
        column.metric(label, format_headline(key, metrics.get(key)))
    sizes = ", ".join(f"{name} {rows:,}" for name, rows in result.split_sizes.items())
    st.caption(
        f"Test-split metrics at threshold {format_threshold(result.metrics.threshold)}. "
        f"Rows: {sizes}"
        + (f"; {result.rows_rejected:,} rejected by the loader." if result.rows_rejected else ".")
    )
