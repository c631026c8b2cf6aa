"""What-if on the Explain page: edit some features of the chosen transaction and see the
new score and waterfall beside the original. Scoring and explaining are core's
(:func:`core.scoring.explain_record`); nothing is audited."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import streamlit as st

from core.schema import FEATURES, NON_NEGATIVE

EDITED = "whatif_features"
"""Session key of the multiselect of features being edited."""
ROW_SHOWN = "whatif_row"
"""Session key of the transaction the edits belong to (they are dropped when it changes)."""


def value_key(name: str) -> str:
    """Session key of the what-if value of feature ``name``."""
    return f"whatif_{name}"


def _forget_edits() -> None:
    for name in FEATURES:
        st.session_state.pop(value_key(name), None)
    st.session_state.pop(EDITED, None)


def edit_inputs(row_id: Hashable, values: np.ndarray) -> dict[str, float] | None:
    """Inputs for the chosen features, starting at the row's values.

    Returns:
        The edited transaction (all 30 features) when a value differs from the row's,
        else None.
    """
    if st.session_state.get(ROW_SHOWN) != row_id:  # another transaction: start afresh
        _forget_edits()
        st.session_state[ROW_SHOWN] = row_id
    chosen = st.multiselect(
        "Features to change",
        list(FEATURES),
        key=EDITED,
        placeholder="Pick one or more features",
    )
    record = dict(zip(FEATURES, values.tolist(), strict=True))
    columns = st.columns(4)
    for i, name in enumerate(chosen):
        with columns[i % 4]:
            record[name] = st.number_input(
                name,
                value=float(record[name]),
                min_value=0.0 if name in NON_NEGATIVE else None,
                format="%.2f" if name == "Amount" else "%.0f" if name == "Time" else "%.4f",
                key=value_key(name),
            )
    edited = any(record[name] != values[FEATURES.index(name)] for name in chosen)
    return record if edited else None
