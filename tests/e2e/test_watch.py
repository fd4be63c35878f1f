"""`inspection-app watch DIR --api URL --once` against the embedded stack: a camera's hot folder."""
from __future__ import annotations

import json

import numpy as np
import requests

from conftest import jpeg_bytes, synthetic_photo
from test_cli import run_cli


def test_given_photos_dropped_in_a_hot_folder_when_watched_then_each_is_inspected_once_and_moved(stack, tmp_path):
    # GIVEN a camera's folder with a photo, a broken file with a photo's name, and a file still being written
    hot = tmp_path / "camera"
    hot.mkdir()
    (hot / "HOT-0001.jpg").write_bytes(jpeg_bytes(synthetic_photo(np.random.default_rng(5), defective=False)))
    (hot / "HOT-0002.png").write_bytes(b"\x89PNG\r\n\x1a\n this is no picture")
    (hot / "HOT-0003.jpg.part").write_bytes(b"half a photo")

    # WHEN the folder is watched once
    watched = run_cli("watch", str(hot), "--api", stack.api_url, "--once", "--interval", "0.5", home=tmp_path)

    # THEN the photo's stored verdict is printed and the photo moved to done/
    assert watched.returncode == 0, watched.stderr
    latest = requests.get(f"{stack.api_url}/results/HOT-0001", headers={"x-api-key": "k"}, timeout=10).json()
    assert latest["count"] == 1
    line = next(line for line in watched.stdout.splitlines() if line.startswith("HOT-0001.jpg"))
    assert line.split()[1] == latest["latest"]["verdict"] and latest["latest"]["inspection_id"] in line
    assert (hot / "done" / "HOT-0001.jpg").exists()
    # AND the broken file went to failed/ with the pipeline's reason beside it
    assert (hot / "failed" / "HOT-0002.png").exists()
    assert (hot / "failed" / "HOT-0002.png.reason.txt").read_text().startswith("rejected: ")
    assert "HOT-0002.png  FAILED  -> failed/HOT-0002.png  (rejected: " in watched.stdout
    # AND the unfinished file is left where it is, nothing is remembered as pending
    assert sorted(p.name for p in hot.iterdir()) == [".watch-state.json", "HOT-0003.jpg.part", "done", "failed"]
    assert json.loads((hot / ".watch-state.json").read_text()) == {"uploaded": {}}

    # WHEN it is watched again
    again = run_cli("watch", str(hot), "--api", stack.api_url, "--once", "--interval", "0.2", home=tmp_path)
    # THEN nothing is uploaded twice
    assert again.returncode == 0 and again.stdout == ""
    assert requests.get(f"{stack.api_url}/results/HOT-0001", headers={"x-api-key": "k"}, timeout=10).json()["count"] == 1
