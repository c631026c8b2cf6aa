"""One transaction typed or pasted by a person: a JSON object or a CSV row."""

from __future__ import annotations

import csv
import json

from core.errors import InputError
from core.schema import FEATURES


def parse_record(text: str) -> dict[str, str]:
    """Read one transaction pasted as a JSON object or as a CSV row.

    A CSV row is either a header line plus one data line, or one data line with the 30
    features (optionally followed by ``Class``) in schema order.

    Raises:
        InputError: the text is neither, or has the wrong number of values.
    """
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise InputError("nothing pasted: give a JSON object or a CSV row")
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg} at character {exc.pos}") from exc
        if not isinstance(record, dict):
            raise InputError("the JSON must be one object of feature: value")
        return {str(k): v for k, v in record.items()}
    lines = [line for line in text.splitlines() if line.strip()]
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    if len(rows) == 2:
        header, values = [h.strip() for h in rows[0]], rows[1]
        if len(header) != len(values):
            raise InputError(
                f"the header has {len(header)} names but the row has {len(values)} values"
            )
        return dict(zip(header, values, strict=True))
    if len(rows) == 1 and len(rows[0]) in (len(FEATURES), len(FEATURES) + 1):
        names = [*FEATURES, "Class"][: len(rows[0])]
        return dict(zip(names, rows[0], strict=True))
    raise InputError(
        f"expected one CSV row of {len(FEATURES)} values (Time, V1..V28, Amount) or a header "
        f"line plus one row; got {len(rows)} line(s) with {len(rows[0])} value(s)"
    )
