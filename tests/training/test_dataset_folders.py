import shutil

import pytest

from training.dataset import CLASSES, DatasetError, load_dataset


def test_given_valid_folders_when_loaded_then_sorted_samples_with_class_indices(tmp_path, write_dataset):
    root = write_dataset(tmp_path / "data", per_class=3)
    (root / ".DS_Store").write_bytes(b"junk")  # hidden files are ignored
    (root / "defective" / ".hidden").write_bytes(b"junk")

    dataset = load_dataset(root)

    assert dataset.classes == ("defect_free", "defective")
    assert dataset.counts == {"defect_free": 3, "defective": 3}
    assert [path for path, _ in dataset.samples] == sorted(path for path, _ in dataset.samples)
    assert all(path.parent.name == CLASSES[label] for path, label in dataset.samples)


def test_given_missing_class_folder_when_loaded_then_error_names_expected_and_found(tmp_path, write_dataset):
    root = write_dataset(tmp_path / "data", per_class=2)
    shutil.rmtree(root / "defective")
    with pytest.raises(DatasetError, match="defect_free, defective; found: defect_free"):
        load_dataset(root)


def test_given_third_class_folder_when_loaded_then_error_names_it(tmp_path, write_dataset):
    root = write_dataset(tmp_path / "data", per_class=2)
    (root / "scratched").mkdir()
    with pytest.raises(DatasetError, match="scratched"):
        load_dataset(root)


def test_given_empty_class_when_loaded_then_error_names_the_folder(tmp_path, write_dataset):
    root = write_dataset(tmp_path / "data", per_class=2)
    for file in (root / "defective").iterdir():
        file.unlink()
    with pytest.raises(DatasetError, match=r"defective is empty"):
        load_dataset(root)


def test_given_missing_dataset_folder_when_loaded_then_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_given_text_file_named_jpg_and_truncated_image_when_loaded_then_error_names_both(tmp_path, write_dataset, synthetic_image, image_bytes):
    import numpy as np

    root = write_dataset(tmp_path / "data", per_class=2)
    (root / "defective" / "notes.jpg").write_text("not an image")
    photo = image_bytes(synthetic_image(np.random.default_rng(1), defective=False, size=200), "JPEG")
    (root / "defect_free" / "cut.jpg").write_bytes(photo[: len(photo) // 2])

    with pytest.raises(DatasetError) as raised:
        load_dataset(root)

    message = str(raised.value)
    assert "2 file(s)" in message
    assert "defective/notes.jpg" in message
    assert "defect_free/cut.jpg" in message
    assert "Remove or replace them" in message


def test_given_file_with_non_image_suffix_when_loaded_then_error_names_it(tmp_path, write_dataset):
    root = write_dataset(tmp_path / "data", per_class=2)
    (root / "defect_free" / "README.txt").write_text("about these photos")
    with pytest.raises(DatasetError, match=r"defect_free/README.txt \(not an image file"):
        load_dataset(root)


def test_given_many_bad_files_when_loaded_then_message_lists_some_and_counts_the_rest(tmp_path, write_dataset):
    root = write_dataset(tmp_path / "data", per_class=2)
    for i in range(13):
        (root / "defective" / f"bad{i:02d}.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="13 file.*and 3 more"):
        load_dataset(root)


def test_given_nested_folder_in_a_class_when_loaded_then_error_says_to_flatten(tmp_path, write_dataset):
    root = write_dataset(tmp_path / "data", per_class=2)
    (root / "defective" / "scratches").mkdir()
    with pytest.raises(DatasetError, match=r"defective/scratches \(a folder: put the images directly"):
        load_dataset(root)
