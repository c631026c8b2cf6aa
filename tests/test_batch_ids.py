"""Transaction ids of a scored batch's rows, read for the Explain page's row picker."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.scoring.batch_files import read_ids


def test_the_ids_of_the_asked_rows_by_row_number(tmp_path: Path) -> None:
    path = tmp_path / "scored.parquet"
    frame = pd.DataFrame(
        {
            "row": [1, 2, 3, 5],
            "transaction_id": ["tx-a", None, "tx-c", "tx-e"],
            "fraud_probability": [0.1, 0.2, 0.3, 0.4],
        }
    )
    frame.to_parquet(path, index=False)
    # row 2 has no id (named by its number instead), row 4 was rejected (not in the file)
    assert read_ids(path, [5, 2, 1, 4]) == {5: "tx-e", 1: "tx-a"}
    assert read_ids(path, []) == {}


def test_a_file_without_an_id_column_has_no_ids(tmp_path: Path) -> None:
    path = tmp_path / "scored.parquet"
    pd.DataFrame({"row": [1, 2], "fraud_probability": [0.1, 0.2]}).to_parquet(path, index=False)
    assert read_ids(path, [1, 2]) == {}
