"""One copy of an uploaded file in memory, not two.

``st.file_uploader`` returns a deep copy of the widget's value, "so that reference types
can't be accidentally mutated by user code" (Streamlit's ``register_widget``). The value is
an ``UploadedFile``, a ``BytesIO`` over the upload's bytes, and deep-copying a ``BytesIO``
copies its buffer: a 567 MB upload was held twice while the page read it (measured with
memray: the second 567 MB is allocated under ``deepcopy`` in ``register_widget``).

A ``BytesIO`` made from a ``bytes`` object shares it until someone writes to it
(copy-on-write, CPython). :func:`share_upload_bytes` gives ``UploadedFile`` a deep copy
that does exactly that: a new, independent file (own position, own attributes) over the
same immutable bytes; a write to either still copies first. Nothing else changes.
"""

from __future__ import annotations

import copy
import io
import logging
from typing import Any

from streamlit.runtime.uploaded_file_manager import UploadedFile

log = logging.getLogger(__name__)


def _deepcopy_sharing_bytes(self: UploadedFile, memo: dict[int, Any]) -> UploadedFile:
    clone = type(self).__new__(type(self))
    io.BytesIO.__init__(clone, self.getvalue())  # the same bytes object: no copy
    clone.seek(self.tell())
    for name, value in vars(self).items():
        setattr(clone, name, copy.deepcopy(value, memo))
    return clone


def share_upload_bytes() -> None:
    """Make a deep copy of an ``UploadedFile`` share its bytes (idempotent). A Streamlit
    whose ``UploadedFile`` defines its own deep copy keeps it."""
    own = vars(UploadedFile).get("__deepcopy__")
    ours = own is not None and getattr(own, "__qualname__", "") == "_deepcopy_sharing_bytes"
    if own is None or ours:  # ours: perhaps from before a reload of this module
        UploadedFile.__deepcopy__ = _deepcopy_sharing_bytes  # type: ignore[attr-defined]
    else:
        log.info("Streamlit's UploadedFile has a deep copy of its own: it is kept")
