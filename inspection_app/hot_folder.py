"""A hot folder for cameras that drop files: `inspection-app watch DIR --api URL`.

- Only photos directly in DIR (`.jpg`, `.jpeg`, `.png`, `.tif`, `.tiff`, `.bmp`; hidden files and other names,
  such as a camera's `photo.jpg.part`, are left alone) are picked up.
- A file is finished when its size and modification time are the same in two scans in a row: a camera still
  writing it is never uploaded half-written.
- Each finished file is uploaded once: its upload key is written to `DIR/.watch-state.json` as soon as storage
  accepted it, so a watcher restarted after a crash or Ctrl-C waits for that upload's verdict instead of
  uploading again. (Only a crash in the moment between storage's answer and that write can upload a file
  twice; the result then shows two inspections of it.)
- When its verdict is stored, the file moves to `DIR/done/` (defective, defect_free, needs_review) or to
  `DIR/failed/` with `<name>.reason.txt` beside it: an upload refused, a photo rejected or not inspected
  (`rejected`, `error`: the result's reason), or no verdict in time.
- Product id: the file name without its extension (`PCB-0042.jpg` → `PCB-0042`, as `inspection-app inspect`
  does), or one fixed `--product-id` for every file.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from chalicelib.verdicts import ERROR, REJECTED

from .client import CONTENT_TYPES, ApiClient, ApiError
from .errors import InputError

STATE_FILE = ".watch-state.json"
DONE, FAILED = "done", "failed"


@dataclass(frozen=True)
class Outcome:
    """A file's end: moved to `done/` with its result, or to `failed/` with the reason."""

    file: str
    moved_to: Path
    result: dict | None = None
    reason: str | None = None


class HotFolder:
    def __init__(self, client: ApiClient, folder: Path, *, product_id: str | None = None, timeout: float = 120,
                 on_outcome: Callable[[Outcome], None] | None = None):
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder: give the folder the camera writes into")
        self.client, self.folder, self.product_id, self.timeout = client, folder, product_id, timeout
        self.on_outcome = on_outcome
        self._seen: dict[str, tuple[int, int]] = {}  # name -> (size, mtime_ns) at the last scan
        self._state_path = folder / STATE_FILE
        self._uploaded: dict[str, dict] = self._read_state()

    def _read_state(self) -> dict[str, dict]:
        try:
            return json.loads(self._state_path.read_text())["uploaded"]
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{self._state_path} is damaged: move it away (the files it lists may then be "
                             "uploaded again)") from None

    def _write_state(self) -> None:
        partial = self._state_path.with_name(STATE_FILE + ".partial")
        partial.write_text(json.dumps({"uploaded": self._uploaded}, indent=1))
        os.replace(partial, self._state_path)

    def scan(self) -> list[Path]:
        """The photos that have not changed since the last scan (finished), in name order."""
        finished, seen = [], {}
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in CONTENT_TYPES or not path.is_file():
                continue
            stat = path.stat()
            seen[path.name] = (stat.st_size, stat.st_mtime_ns)
            if self._seen.get(path.name) == seen[path.name]:
                finished.append(path)
        self._seen = seen
        return finished

    def process(self, finished: list[Path]) -> list[Outcome]:
        """Upload the finished files not uploaded yet, then wait for every uploaded file's verdict and move it."""
        outcomes = []
        for path in finished:
            if path.name in self._uploaded:
                continue  # uploaded before a restart: its verdict is waited for below
            product_id = self.product_id or path.stem
            try:
                upload = self.client.upload(path, product_id)
            except ApiError as error:
                outcomes.append(self._finish(path, None, f"upload refused: {error}"))
                continue
            self._uploaded[path.name] = {"product_id": product_id, "key": upload["key"]}
            self._write_state()
        for name, upload in list(self._uploaded.items()):
            path = self.folder / name
            if not path.exists():  # moved away by a person meanwhile: nothing to move
                del self._uploaded[name]
                self._write_state()
                continue
            outcomes.append(self._verdict(path, upload))
        return outcomes

    def _verdict(self, path: Path, upload: dict) -> Outcome:
        try:
            result = self.client.wait_for_result(upload["product_id"], upload["key"], timeout=self.timeout)
        except TimeoutError:
            return self._finish(path, None, f"no verdict within {self.timeout:.0f} s for upload {upload['key']}; "
                                            f"look it up later with GET /results/{upload['product_id']}")
        except ApiError as error:
            return self._finish(path, None, f"the verdict of upload {upload['key']} could not be read: {error}")
        if result["verdict"] in (REJECTED, ERROR):
            return self._finish(path, result, f"{result['verdict']}: {result.get('reason', 'no reason given')}")
        return self._finish(path, result, None)

    def _finish(self, path: Path, result: dict | None, reason: str | None) -> Outcome:
        folder = self.folder / (FAILED if reason else DONE)
        folder.mkdir(exist_ok=True)
        target = _free_name(folder / path.name)
        os.replace(path, target)
        if reason:
            target.with_name(target.name + ".reason.txt").write_text(reason + "\n")
        if self._uploaded.pop(path.name, None) is not None:
            self._write_state()
        outcome = Outcome(path.name, target, result, reason)
        if self.on_outcome:
            self.on_outcome(outcome)
        return outcome

    def run(self, *, interval: float = 2.0, once: bool = False) -> list[Outcome]:
        """Scan every `interval` seconds until interrupted (Ctrl-C). First the verdicts of uploads made before a
        restart. `once`: two scans `interval` apart, process what was finished, return the outcomes."""
        outcomes = self.process([])
        self.scan()
        while True:
            time.sleep(interval)
            done = self.process(self.scan())
            if once:
                return outcomes + done


def _free_name(path: Path) -> Path:
    """`path`, or `name-1.ext`, `name-2.ext`... when a file of that name is already there."""
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate
