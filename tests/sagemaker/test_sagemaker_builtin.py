"""The built-in image-classification job's input against moto: separate folders for a held-out validation split,
and images as the pipeline sends them to the endpoint."""

import io

import numpy as np
import pytest
from PIL import Image
from sagemaker_helpers import BUCKET, BUILTIN_IMAGE, ROLE, channels, keys, s3_object

from chalicelib.images import prepare_image
from training.dataset import CLASSES, load_dataset, split_dataset
from training.sagemaker import launcher
from training.sagemaker.builtin import square_name, square_png
from training.sagemaker.defaults import BUILTIN_IMAGE_SIZE

CLASS_INDEX = {name: str(index) for index, name in enumerate(CLASSES)}


def _as_sent(data: bytes) -> np.ndarray:
    """The pixels the classify function sends a model of the built-in algorithm's input size."""
    body = prepare_image(data, max_bytes=len(data), max_pixels=10**8, input_size=BUILTIN_IMAGE_SIZE).body
    return np.asarray(Image.open(io.BytesIO(body)))


@pytest.fixture
def photos(tmp_path, synthetic_image):
    """A dataset of wide JPEG photos (160 x 96), as a camera takes them: 6 per class."""
    rng = np.random.default_rng(3)
    for index, name in enumerate(CLASSES):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(6):
            synthetic_image(rng, defective=index == 1, size=(160, 96)).save(tmp_path / "photos" / name / f"p{i}.jpg")
    return tmp_path / "photos"


def _builtin_job(aws, dataset):
    result = launcher.train_job(dataset, BUCKET, ROLE, algorithm="builtin", session=aws, wait=False)
    return result, aws.client("sagemaker").describe_training_job(TrainingJobName=result.job_name)


def _listed(aws, manifest_folder: str) -> list[list[str]]:
    """The rows (index, class index, path) of the one .lst file in a manifest channel's folder."""
    [key] = keys(aws, manifest_folder.removeprefix(f"s3://{BUCKET}/"))
    return [line.split("\t") for line in s3_object(aws, f"s3://{BUCKET}/{key}").decode().splitlines()]


def test_given_a_builtin_job_then_train_and_validation_are_separate_folders_of_a_held_out_stratified_split(
        aws, photos):
    # WHEN the built-in algorithm is chosen
    result, job = _builtin_job(aws, photos)
    splits = split_dataset(load_dataset(photos))  # the seeded, stratified split of local training
    # THEN it runs the image-classification image on a GPU instance, on images already of image_shape's size
    assert job["AlgorithmSpecification"]["TrainingImage"] == BUILTIN_IMAGE
    assert job["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert job["HyperParameters"] == {
        "use_pretrained_model": "1", "image_shape": "3,224,224", "resize": "224", "num_classes": "2",
        "num_training_samples": str(len(splits.train)), "learning_rate": "0.001", "mini_batch_size": "8",
        "epochs": "10"}
    # and its four channels are folders of their own (SageMaker reads train and validation separately),
    # none inside another, all application/x-image
    job_channels = channels(job)
    assert set(job_channels) == {"train", "validation", "train_lst", "validation_lst"}
    assert {channel["ContentType"] for channel in job_channels.values()} == {"application/x-image"}
    uri = {name: channel["DataSource"]["S3DataSource"]["S3Uri"] for name, channel in job_channels.items()}
    assert len(set(uri.values())) == 4
    assert not [(a, b) for a in uri.values() for b in uri.values() if a != b and b.startswith(a)]
    assert all(folder.startswith(result.dataset_uri) and folder.endswith("/") for folder in uri.values())
    # and each image folder holds exactly its split, listed by its manifest and labelled by its class folder
    uploaded = {}
    for split, samples in (("train", splits.train), ("validation", splits.validation)):
        folder = uri[split].removeprefix(f"s3://{BUCKET}/")
        uploaded[split] = {key.removeprefix(folder) for key in keys(aws, folder)}
        assert uploaded[split] == {square_name(path, photos) for path, _ in samples}
        rows = _listed(aws, uri[f"{split}_lst"])
        assert sorted(relative for _, _, relative in rows) == sorted(uploaded[split])
        assert all(label == CLASS_INDEX[relative.split("/")[0]] for _, label, relative in rows)
        assert len({index for index, _, _ in rows}) == len(rows)
        # stratified: every class in every split
        assert {relative.split("/")[0] for _, _, relative in rows} == set(CLASSES)
    # and no image is in both; the test split is not uploaded at all
    assert not uploaded["train"] & uploaded["validation"]
    test_names = {square_name(path, photos) for path, _ in splits.test}
    assert test_names and not test_names & (uploaded["train"] | uploaded["validation"])


def test_given_photos_of_any_shape_then_the_builtin_job_trains_on_the_square_images_the_pipeline_sends(aws, photos):
    result, job = _builtin_job(aws, photos)
    for split in ("train", "validation"):
        folder = channels(job)[split]["DataSource"]["S3DataSource"]["S3Uri"]
        for key in keys(aws, folder.removeprefix(f"s3://{BUCKET}/")):
            image = Image.open(io.BytesIO(s3_object(aws, f"s3://{BUCKET}/{key}")))
            # squashed to image_shape's square, losslessly: resize=224 then scales and crops nothing
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (BUILTIN_IMAGE_SIZE, BUILTIN_IMAGE_SIZE))
            original = (photos / key.removeprefix(folder.removeprefix(f"s3://{BUCKET}/"))).with_suffix("")
            np.testing.assert_array_equal(np.asarray(image), _as_sent(original.read_bytes()))


def test_given_an_exif_rotated_greyscale_photo_then_its_square_is_what_the_classify_function_sends(
        tmp_path, synthetic_image):
    photo = synthetic_image(np.random.default_rng(1), defective=True, size=(200, 120)).convert("L")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to show
    photo.save(tmp_path / "turned.jpg", exif=exif)
    square = Image.open(io.BytesIO(square_png(tmp_path / "turned.jpg", BUILTIN_IMAGE_SIZE)))
    assert square.size == (BUILTIN_IMAGE_SIZE, BUILTIN_IMAGE_SIZE) and square.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(square), _as_sent((tmp_path / "turned.jpg").read_bytes()))

