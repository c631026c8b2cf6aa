"""An uploaded file is held once in memory: st.file_uploader's deep copy of it shares the
upload's bytes (app/ui/upload_memory.py); bench/batch_memory.py measures the effect."""

from __future__ import annotations

import copy

import pytest
from streamlit.proto.Common_pb2 import FileURLs
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec
from streamlit.testing.v1 import AppTest

from app.ui.upload_memory import share_upload_bytes
from tests.conftest import REPO


def _upload(data: bytes) -> UploadedFile:
    record = UploadedFileRec(file_id="f1", name="big.csv", type="text/csv", data=data)
    return UploadedFile(record, FileURLs(file_id="f1", upload_url="u", delete_url="d"))


def test_a_deep_copy_of_an_upload_shares_its_bytes_and_is_still_independent() -> None:
    share_upload_bytes()
    data = b"Time,V1\n" + b"1,2\n" * 1000
    original = _upload(data)
    original.read(5)
    clone = copy.deepcopy(original)
    assert clone.getvalue() is data  # the same bytes object: no second copy
    assert (clone.file_id, clone.name, clone.type, clone.size) == (
        "f1",
        "big.csv",
        "text/csv",
        len(data),
    )
    assert clone.tell() == 5 and clone.read(3) == b"V1\n"  # where the original was
    assert original.tell() == 5  # its own position
    clone.seek(0)
    clone.write(b"XXXX")  # a write copies first: the original and the upload are unchanged
    assert original.getvalue() == data and data.startswith(b"Time")
    assert clone.getvalue().startswith(b"XXXX")


def test_the_app_installs_it() -> None:
    """Every page runs app/main.py first: the copy is shared on every page."""
    import streamlit.runtime.uploaded_file_manager as module

    if "__deepcopy__" in vars(module.UploadedFile):  # as Streamlit ships it
        delattr(module.UploadedFile, "__deepcopy__")
    shipped = b"y" * 100
    assert copy.deepcopy(_upload(shipped)).getvalue() is not shipped  # Streamlit's: a copy
    AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120).run()
    data = b"x" * 100
    assert copy.deepcopy(_upload(data)).getvalue() is data


def test_a_deep_copy_streamlit_defines_itself_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    def streamlits_own(self: UploadedFile, memo: dict) -> UploadedFile:
        return self

    monkeypatch.setattr(UploadedFile, "__deepcopy__", streamlits_own, raising=False)
    share_upload_bytes()
    assert vars(UploadedFile)["__deepcopy__"] is streamlits_own
