import random
from pathlib import Path

import pytest

from training.dataset import CLASSES, Dataset, DatasetError, split_dataset


def make_dataset(per_class: dict[str, int], *, shuffle_seed=None) -> Dataset:
    """A Dataset listing made-up paths (split_dataset never opens the files)."""
    root = Path("/data")
    samples = [(root / name / f"{i:04d}.png", CLASSES.index(name)) for name, n in per_class.items() for i in range(n)]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(samples)  # as if the file system listed them in another order
    return Dataset(root=root, classes=CLASSES, samples=samples, counts=per_class)


def as_sets(splits):
    return set(splits.train), set(splits.validation), set(splits.test)


def test_given_same_seed_when_listing_order_differs_then_split_is_identical():
    counts = {"defect_free": 60, "defective": 25}
    reference = split_dataset(make_dataset(counts), seed=3)
    for shuffle_seed in range(3):
        again = split_dataset(make_dataset(counts, shuffle_seed=shuffle_seed), seed=3)
        assert again == reference


def test_given_another_seed_when_split_then_membership_differs():
    counts = {"defect_free": 60, "defective": 25}
    assert as_sets(split_dataset(make_dataset(counts), seed=0)) != as_sets(split_dataset(make_dataset(counts), seed=1))


def test_given_imbalanced_classes_when_split_then_each_class_is_split_by_the_fractions():
    splits = split_dataset(make_dataset({"defect_free": 100, "defective": 50}), test_fraction=0.2, validation_fraction=0.1)

    def per_class(samples):
        return [sum(1 for _, label in samples if label == index) for index in range(len(CLASSES))]

    assert per_class(splits.test) == [20, 10]
    assert per_class(splits.validation) == [10, 5]
    assert per_class(splits.train) == [70, 35]


def test_given_a_dataset_when_split_then_splits_are_disjoint_and_cover_everything():
    dataset = make_dataset({"defect_free": 37, "defective": 11})
    train, validation, test = as_sets(split_dataset(dataset))
    assert not (train & validation or train & test or validation & test)
    assert train | validation | test == set(dataset.samples)


def test_given_tiny_dataset_when_split_then_every_split_has_every_class():
    splits = split_dataset(make_dataset({"defect_free": 4, "defective": 4}))
    for samples in (splits.train, splits.validation, splits.test):
        assert {label for _, label in samples} == {0, 1}


def test_given_two_images_in_a_class_when_split_then_dataset_error_asks_for_more():
    with pytest.raises(DatasetError, match="defective .* has 2 image"):
        split_dataset(make_dataset({"defect_free": 10, "defective": 2}))


@pytest.mark.parametrize("test_fraction, validation_fraction", [(0, 0.1), (0.2, 0), (0.6, 0.4)])
def test_given_impossible_fractions_when_split_then_value_error(test_fraction, validation_fraction):
    with pytest.raises(ValueError, match="fraction"):
        split_dataset(make_dataset({"defect_free": 10, "defective": 10}), test_fraction=test_fraction, validation_fraction=validation_fraction)
