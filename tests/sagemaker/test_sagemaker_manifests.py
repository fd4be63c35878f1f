"""The `.lst` manifests of the built-in image-classification algorithm."""

from pathlib import Path

import pytest

from training.dataset import load_dataset, split_dataset
from training.sagemaker.manifests import ManifestError, manifest_lines, write_manifest


def test_given_samples_then_each_line_is_index_tab_class_index_tab_relative_posix_path(tmp_path):
    samples = [(tmp_path / "defective" / "b.png", 1), (tmp_path / "defect_free" / "a.jpg", 0)]
    assert manifest_lines(samples, tmp_path) == ["0\t1\tdefective/b.png", "1\t0\tdefect_free/a.jpg"]


def test_given_a_split_dataset_when_written_then_the_manifests_list_each_split_with_the_dataset_class_indices(
        tmp_path, write_dataset):
    # GIVEN a dataset split as local training splits it
    dataset = load_dataset(write_dataset(tmp_path / "dataset", per_class=10))
    splits = split_dataset(dataset)
    # WHEN the train and validation manifests are written
    train = write_manifest(splits.train, dataset.root, tmp_path / "lst" / "train.lst")
    validation = write_manifest(splits.validation, dataset.root, tmp_path / "lst" / "validation.lst")
    # THEN every line parses, indices are unique, and labels follow the folder (defect_free=0, defective=1)
    for manifest, samples in ((train, splits.train), (validation, splits.validation)):
        rows = [line.split("\t") for line in manifest.read_text().splitlines()]
        assert manifest.read_text().endswith("\n") and len(rows) == len(samples)
        assert [int(index) for index, _, _ in rows] == list(range(len(samples)))
        for _, label, relative in rows:
            assert (dataset.root / relative).is_file()
            assert int(label) == {"defect_free": 0, "defective": 1}[Path(relative).parts[0]]
    # and the two splits share no image
    listed = [{line.split("\t")[2] for line in m.read_text().splitlines()} for m in (train, validation)]
    assert not listed[0] & listed[1]


def test_given_a_tab_in_a_file_name_then_the_manifest_refuses_with_the_name(tmp_path):
    with pytest.raises(ManifestError, match="defective/bad\\\\tname.png"):
        manifest_lines([(tmp_path / "defective" / "bad\tname.png", 1)], tmp_path)
