"""`inspection-app review export`: reviewed photos from the embedded stack into a training dataset."""
from __future__ import annotations

import requests

from conftest import store_needs_review
from test_cli import run_cli


def review(stack, inspection_id: str, verdict: str) -> None:
    answer = requests.post(f"{stack.api_url}/inspections/{inspection_id}/review", json={"verdict": verdict},
                           headers={"x-api-key": "k"}, timeout=10)
    assert answer.status_code == 200, answer.text


def stored_photo(stack, record: dict) -> bytes:
    return stack.client("s3").get_object(Bucket=record["bucket"], Key=record["key"])["Body"].read()


def test_given_reviewed_photos_when_exported_then_they_join_the_dataset_once_by_the_human_verdict(stack, tmp_path):
    # GIVEN three photos the model was unsure about: one reviewed defective, one reviewed defect-free, one not
    found, clean, open_ = (store_needs_review(stack, f"EXPORT-{n}", seed=20 + n) for n in (1, 2, 3))
    review(stack, found["inspection_id"], "defective")
    review(stack, clean["inspection_id"], "defect_free")
    # AND a dataset that holds the defect-free photo already, under another name
    dataset = tmp_path / "dataset"
    (dataset / "defect_free").mkdir(parents=True)
    (dataset / "defect_free" / "line-3-0001.jpg").write_bytes(stored_photo(stack, clean))

    # WHEN the reviewed photos are exported into it
    exported = run_cli("review", "export", str(dataset), "--api", stack.api_url, home=tmp_path)

    # THEN the human verdict chose the folder, the photo is the stored one, named by its inspection id
    assert exported.returncode == 0, exported.stderr
    written = dataset / "defective" / f"{found['inspection_id']}.jpg"
    assert written.read_bytes() == stored_photo(stack, found)
    assert f"added         defective/{written.name}" in exported.stdout
    # AND the photo the dataset had is not written twice, and the unreviewed one is not exported
    assert not (dataset / "defect_free" / f"{clean['inspection_id']}.jpg").exists()
    assert "same photo as defect_free/line-3-0001.jpg" in exported.stdout
    assert open_["inspection_id"] not in exported.stdout
    assert sorted(p.name for p in (dataset / "defect_free").iterdir()) == ["line-3-0001.jpg"]

    # WHEN it runs again after a person changed their mind about the defective one
    review(stack, found["inspection_id"], "defect_free")
    again = run_cli("review", "export", str(dataset), "--since", found["uploaded_at"], "--api", stack.api_url,
                    home=tmp_path)

    # THEN nothing is added: the photo moves to the other folder, the rest is already there
    assert again.returncode == 0, again.stderr
    assert not written.exists() and (dataset / "defect_free" / written.name).read_bytes() == stored_photo(stack, found)
    assert "0 photo(s) added" in again.stdout and f"moved         defect_free/{written.name}" in again.stdout


def test_review_export_into_a_file_says_so_without_a_traceback(tmp_path):
    (tmp_path / "dataset").write_text("not a folder")
    exported = run_cli("review", "export", str(tmp_path / "dataset"), "--api", "http://127.0.0.1:9", home=tmp_path)
    assert exported.returncode == 2
    assert exported.stderr.strip() == f"error: {tmp_path / 'dataset'} is not a folder: give the dataset folder to export into"
