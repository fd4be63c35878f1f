import json

import pytest

from training.dataset import CLASSES, load_dataset
from training.dataset import DatasetError
from training.elpv import DATA_DIR, MARKER, prepare_elpv


def files(folder):
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*.png")}


def elpv_probabilities() -> dict[str, float]:
    lines = (DATA_DIR / "labels.csv").read_text().splitlines()
    return {line.split()[0].split("/")[-1]: float(line.split()[1]) for line in lines}


def test_given_a_small_subset_when_prepared_then_class_folders_hold_unambiguous_images(tmp_path):
    train_dir, holdout_dir = prepare_elpv(tmp_path, holdout_per_class=2, limit_per_class=5, seed=0)

    assert (train_dir, holdout_dir) == (tmp_path / "train", tmp_path / "holdout")
    probabilities = elpv_probabilities()
    for folder, per_class in ((train_dir, 3), (holdout_dir, 2)):
        for label, name in enumerate(CLASSES):
            names = sorted(path.name for path in (folder / name).iterdir())
            assert len(names) == per_class
            assert all(n.startswith("cell") and n.endswith(".png") for n in names)  # original names kept
            # probability 0 -> defect_free, 1 -> defective; 0.33 and 0.67 never appear
            assert all(probabilities[n] == float(label) for n in names)
    assert not {p.split("/")[-1] for p in files(train_dir)} & {p.split("/")[-1] for p in files(holdout_dir)}
    assert load_dataset(train_dir).counts == {"defect_free": 3, "defective": 3}


def test_given_prepared_folder_when_prepared_again_then_nothing_is_copied_twice(tmp_path):
    prepare_elpv(tmp_path, holdout_per_class=2, limit_per_class=5)
    before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.png")}

    prepare_elpv(tmp_path, holdout_per_class=2, limit_per_class=5)

    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.png")} == before
    assert json.loads((tmp_path / MARKER).read_text())["complete"] is True


def test_given_other_settings_when_prepared_again_then_folders_are_rebuilt_without_leftovers(tmp_path):
    prepare_elpv(tmp_path, holdout_per_class=2, limit_per_class=5)
    train_dir, holdout_dir = prepare_elpv(tmp_path, holdout_per_class=1, limit_per_class=4)
    assert len(files(holdout_dir)) == 2
    assert len(files(train_dir)) == 6


def test_given_same_settings_then_holdout_is_deterministic_and_seed_dependent(tmp_path):
    first = files(prepare_elpv(tmp_path / "a", holdout_per_class=3, limit_per_class=12, seed=0)[1])
    again = files(prepare_elpv(tmp_path / "b", holdout_per_class=3, limit_per_class=12, seed=0)[1])
    other = files(prepare_elpv(tmp_path / "c", holdout_per_class=3, limit_per_class=12, seed=1)[1])
    assert first == again
    assert first != other


def test_given_interrupted_run_when_prepared_again_then_it_starts_over(tmp_path):
    prepare_elpv(tmp_path, holdout_per_class=2, limit_per_class=5)
    marker = tmp_path / MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "complete": False}))
    (tmp_path / "train" / "defective" / "stray.png").write_bytes(b"")

    prepare_elpv(tmp_path, holdout_per_class=2, limit_per_class=5)

    assert not (tmp_path / "train" / "defective" / "stray.png").exists()
    assert json.loads(marker.read_text())["complete"] is True


def test_given_folder_with_foreign_train_dir_when_prepared_then_refuses(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match="not made by prepare_elpv"):
        prepare_elpv(tmp_path, holdout_per_class=2, limit_per_class=5)
