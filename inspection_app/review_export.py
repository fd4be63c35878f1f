"""Reviewed photos back into a training dataset: `inspection-app review export DIR --api URL`.

Each photo a person reviewed goes into `DIR/<human verdict>/<inspection id><ext>` (`defect_free/` or
`defective/`, the folders `inspection-app train` reads). Merging with what DIR already holds:
- a photo already exported (same inspection id) in the right folder is left alone;
- one exported before into the other folder (the review changed since) is moved to the right one;
- a photo whose bytes equal a file already in DIR (say, a training photo that was uploaded again) is not
  written twice, whatever its name.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from chalicelib.verdicts import DEFECT_FREE, DEFECTIVE, VERDICTS

from .client import CONTENT_TYPES, ApiClient
from .errors import InputError

CLASSES = (DEFECT_FREE, DEFECTIVE)
# Every reviewed result, unless --since says otherwise (the API's own default is the last 30 days).
EVERYTHING = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class Exported:
    """What happened to one reviewed inspection: `added`, `moved`, `present` or `duplicate` (of `existing`)."""

    outcome: str
    inspection_id: str
    label: str
    path: Path
    existing: Path | None = None


@dataclass
class ExportReport:
    items: list[Exported] = field(default_factory=list)

    def count(self, outcome: str, label: str | None = None) -> int:
        return sum(item.outcome == outcome and label in (None, item.label) for item in self.items)


class Dataset:
    """The class folders of DIR, indexed by file stem (the inspection id of exported photos) and by content."""

    def __init__(self, root: Path):
        if root.exists() and not root.is_dir():
            raise InputError(f"{root} is not a folder: give the dataset folder to export into")
        self.root = root
        self._by_stem: dict[str, Path] = {}
        self._by_hash: dict[str, Path] | None = None
        for label in CLASSES:
            (root / label).mkdir(parents=True, exist_ok=True)
            for path in self._photos(label):
                self._by_stem[path.stem] = path

    def _photos(self, label: str) -> Iterator[Path]:
        return (p for p in sorted((self.root / label).iterdir()) if p.is_file() and p.suffix.lower() in CONTENT_TYPES)

    def _hashes(self) -> dict[str, Path]:
        if self._by_hash is None:  # read only when a new photo has to be compared
            self._by_hash = {_digest(p.read_bytes()): p for label in CLASSES for p in self._photos(label)}
        return self._by_hash

    def merge(self, inspection_id: str, label: str, suffix: str, photo: Callable[[], bytes]) -> Exported:
        target = self.root / label / f"{inspection_id}{suffix}"
        known = self._by_stem.get(inspection_id)
        if known is not None:
            if known.parent.name == label:
                return Exported("present", inspection_id, label, known)
            known.replace(target)  # reviewed again, the other way
            self._by_stem[inspection_id] = target
            if self._by_hash is not None:
                self._by_hash = {digest: (target if p == known else p) for digest, p in self._by_hash.items()}
            return Exported("moved", inspection_id, label, target, existing=known)
        data = photo()
        digest = _digest(data)
        same = self._hashes().get(digest)
        if same is not None:
            return Exported("duplicate", inspection_id, label, target, existing=same)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        os.replace(partial, target)  # never a half-written photo in the dataset
        self._by_stem[inspection_id], self._hashes()[digest] = target, target
        return Exported("added", inspection_id, label, target)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _suffix(key: str) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    return suffix if suffix in CONTENT_TYPES else ".jpg"


def export_reviewed(client: ApiClient, root: Path, since: str | None = None,
                    on_item: Callable[[Exported], None] | None = None) -> ExportReport:
    """Merge every photo reviewed `defective` or `defect_free` (uploaded at `since` or later) into `root`."""
    dataset, report = Dataset(root), ExportReport()
    for model_verdict in VERDICTS:  # the listing filters on the model's verdict: a person may review any
        for result in client.inspections(model_verdict, since=since or EVERYTHING, reviewed=True):
            label = result["verdict"]  # presented: the human verdict
            if label not in CLASSES:
                continue
            inspection_id = result["inspection_id"]
            item = dataset.merge(inspection_id, label, _suffix(result["key"]), lambda: client.image(inspection_id))
            report.items.append(item)
            if on_item:
                on_item(item)
    return report
