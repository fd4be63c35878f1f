"""inspection_app/hot_folder.py: when a dropped file counts as finished, that it is uploaded once across
restarts, and where it ends (done/ or failed/ with the reason). The API is a fake here; tests/e2e/test_cli.py
runs `inspection-app watch` against the embedded stack."""
from __future__ import annotations

import json
import os

import pytest

from inspection_app.client import ApiError
from inspection_app.hot_folder import STATE_FILE, HotFolder


class FakeApi:
    """Uploads are counted; each upload's verdict is `verdicts[product_id]` (defect_free when not given)."""

    def __init__(self, verdicts: dict | None = None, refuse: set | None = None):
        self.uploads, self.verdicts, self.refuse = [], verdicts or {}, refuse or set()
        self.interrupt_wait = False

    def upload(self, path, product_id):
        if product_id in self.refuse:
            raise ApiError(400, f"product_id {product_id!r} is not allowed")
        self.uploads.append((path.name, product_id, path.read_bytes()))
        return {"key": f"uploads/{product_id}/{len(self.uploads)}.jpg"}

    def wait_for_result(self, product_id, key, timeout):
        if self.interrupt_wait:
            raise KeyboardInterrupt  # Ctrl-C (or a crash) while the verdict is awaited
        verdict, reason = self.verdicts.get(product_id, ("defect_free", None))
        return {"product_id": product_id, "key": key, "verdict": verdict, "confidence": 0.9,
                "inspection_id": f"{product_id}-x", **({"reason": reason} if reason else {})}


def drop(folder, name: str, data: bytes = b"jpeg bytes") -> None:
    (folder / name).write_bytes(data)


def test_given_a_file_still_being_written_when_scanned_then_it_is_uploaded_only_once_unchanged_for_a_scan(tmp_path):
    api = FakeApi()
    folder = HotFolder(api, tmp_path)
    # GIVEN a camera writing PART-1.jpg: first scan sees it, second sees it grown
    drop(tmp_path, "PART-1.jpg", b"half")
    assert folder.process(folder.scan()) == []
    with open(tmp_path / "PART-1.jpg", "ab") as part:
        part.write(b" and the rest")
    assert folder.process(folder.scan()) == [] and api.uploads == []
    # WHEN a scan finds it unchanged
    [outcome] = folder.process(folder.scan())
    # THEN the whole file was uploaded once, with its name as product id, and moved to done/
    assert api.uploads == [("PART-1.jpg", "PART-1", b"half and the rest")]
    assert outcome.moved_to == tmp_path / "done" / "PART-1.jpg" and outcome.result["verdict"] == "defect_free"
    assert not (tmp_path / "PART-1.jpg").exists()


def test_given_other_files_when_scanned_then_partial_hidden_and_unknown_names_are_left_alone(tmp_path):
    for name in ("PART-2.jpg.part", ".PART-3.jpg", "notes.txt"):
        drop(tmp_path, name)
    api = FakeApi()
    folder = HotFolder(api, tmp_path)
    folder.scan()
    assert folder.process(folder.scan()) == [] and api.uploads == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".PART-3.jpg", "PART-2.jpg.part", "notes.txt"]


def test_given_a_watcher_stopped_while_waiting_when_restarted_then_the_verdict_is_awaited_without_uploading_again(
        tmp_path):
    # GIVEN a photo uploaded, and the watcher stopped before its verdict came
    api = FakeApi()
    drop(tmp_path, "PART-4.png")
    first = HotFolder(api, tmp_path)
    first.scan()
    api.interrupt_wait = True
    with pytest.raises(KeyboardInterrupt):
        first.process(first.scan())
    assert len(api.uploads) == 1 and "PART-4.png" in json.loads((tmp_path / STATE_FILE).read_text())["uploaded"]
    # WHEN a new watcher starts on the folder
    api.interrupt_wait = False
    outcomes = HotFolder(api, tmp_path).run(interval=0, once=True)
    # THEN it is not uploaded again: that upload's verdict moves it to done/, and the state forgets it
    assert len(api.uploads) == 1
    assert [(o.file, o.moved_to.parent.name, o.result["key"]) for o in outcomes] == [
        ("PART-4.png", "done", "uploads/PART-4/1.jpg")]
    assert json.loads((tmp_path / STATE_FILE).read_text())["uploaded"] == {}


def test_given_a_rejected_photo_and_a_refused_upload_then_both_go_to_failed_with_the_reason_beside_them(tmp_path):
    api = FakeApi(verdicts={"PART-5": ("rejected", "not an image: cannot identify image file")},
                  refuse={"bad name"})
    drop(tmp_path, "PART-5.jpg")
    drop(tmp_path, "bad name.jpg")
    outcomes = HotFolder(api, tmp_path, timeout=5).run(interval=0, once=True)
    assert sorted((o.file, o.moved_to.parent.name) for o in outcomes) == [("PART-5.jpg", "failed"), ("bad name.jpg", "failed")]
    assert (tmp_path / "failed" / "PART-5.jpg.reason.txt").read_text() == (
        "rejected: not an image: cannot identify image file\n")
    assert (tmp_path / "failed" / "bad name.jpg.reason.txt").read_text() == (
        "upload refused: product_id 'bad name' is not allowed\n")
    assert [name for name, _, _ in api.uploads] == ["PART-5.jpg"]


def test_given_a_fixed_product_id_and_a_name_already_done_then_that_id_is_used_and_nothing_is_overwritten(tmp_path):
    api = FakeApi()
    (tmp_path / "done").mkdir()
    drop(tmp_path / "done", "cam.jpg", b"yesterday's")
    drop(tmp_path, "cam.jpg", b"today's")
    [outcome] = HotFolder(api, tmp_path, product_id="LINE3-BOARD").run(interval=0, once=True)
    assert api.uploads == [("cam.jpg", "LINE3-BOARD", b"today's")]
    assert outcome.moved_to.name == "cam-1.jpg" and outcome.moved_to.read_bytes() == b"today's"
    assert (tmp_path / "done" / "cam.jpg").read_bytes() == b"yesterday's"


def test_given_a_damaged_state_file_then_it_says_what_to_do(tmp_path):
    from inspection_app.errors import InputError

    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(InputError, match="is damaged: move it away"):
        HotFolder(FakeApi(), tmp_path)
    os.remove(tmp_path / STATE_FILE)
    with pytest.raises(InputError, match="is not a folder"):
        HotFolder(FakeApi(), tmp_path / "missing")
