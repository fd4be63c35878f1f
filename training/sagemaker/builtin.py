"""The input of a built-in image-classification job (raw images and `.lst` manifests).

The algorithm reads the `train` and `validation` channels separately, so each split is uploaded to a folder of its
own (SageMaker's docs require different folders), with its manifest in a folder of its own too:

    <key prefix>/train/<class>/<name>.png          the training split of `split_dataset`
    <key prefix>/validation/<class>/<name>.png     the validation split: held out from training
    <key prefix>/train_lst/train.lst
    <key prefix>/validation_lst/validation.lst

The test split is not uploaded. Every image is uploaded as the classify function sends it to the endpoint: upright
8-bit RGB squashed to the model's square input (`training.preprocess`, the conversion `chalicelib.images` makes), as
a lossless PNG. With `resize` equal to that side the algorithm scales and crops nothing, so it trains on exactly the
pixels the pipeline will send, instead of an aspect-preserving resize and a centre crop of the original photo.
"""

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from training.dataset import Sample, Splits
from training.preprocess import load_image, resize
from training.sagemaker.defaults import (
    BUILTIN_EPOCHS,
    BUILTIN_IMAGE_SIZE,
    BUILTIN_LEARNING_RATE,
    BUILTIN_MAX_BATCH_SIZE,
)
from training.sagemaker.manifests import write_manifest


@dataclass(frozen=True)
class BuiltinInput:
    uri: str  # s3://bucket/<key prefix>/, holding the four folders
    channels: dict[str, str]  # channel name (train, validation, train_lst, validation_lst) -> its S3 folder


def builtin_hyperparameters(num_training_samples: int, *, epochs: int | None = None) -> dict:
    """The built-in algorithm's hyperparameters, as in the reference notebook, on images already square."""
    return {
        "use_pretrained_model": 1,
        "image_shape": f"3,{BUILTIN_IMAGE_SIZE},{BUILTIN_IMAGE_SIZE}",
        # Required for raw images by some versions of the algorithm. The images are already this size, so
        # scaling the shorter side to it and cropping image_shape from the centre leave them as they are.
        "resize": BUILTIN_IMAGE_SIZE,
        "num_classes": 2,
        "num_training_samples": num_training_samples,
        "learning_rate": BUILTIN_LEARNING_RATE,
        "mini_batch_size": min(BUILTIN_MAX_BATCH_SIZE, num_training_samples),
        "epochs": epochs or BUILTIN_EPOCHS,
    }


def square_png(path, size: int) -> bytes:
    """The image at `path` as the pipeline sends it to a model of input `size`: upright 8-bit RGB, squashed to
    size x size (bilinear, nothing cropped), PNG."""
    buffer = io.BytesIO()
    Image.fromarray(resize(load_image(Path(path).read_bytes()), size)).save(buffer, format="PNG")
    return buffer.getvalue()


def square_name(path, root) -> str:
    """The uploaded image's path under its channel: the original's, plus `.png` (`a.jpg` and `a.png` stay apart)."""
    return f"{Path(path).relative_to(root).as_posix()}.png"


def upload_builtin_input(splits: Splits, root, bucket: str, key_prefix: str, s3_client, staging) -> BuiltinInput:
    """Upload the squared images of the train and validation splits and their manifests (see the module)."""
    channels = {}
    for split, samples in (("train", splits.train), ("validation", splits.validation)):
        images_prefix = f"{key_prefix}/{split}"
        uploaded: list[Sample] = []
        for path, label in samples:
            name = square_name(path, root)
            s3_client.put_object(Bucket=bucket, Key=f"{images_prefix}/{name}",
                                 Body=square_png(path, BUILTIN_IMAGE_SIZE), ContentType="image/png")
            uploaded.append((Path(split, name), label))  # its path in the channel's folder
        manifest = write_manifest(uploaded, split, Path(staging) / f"{split}.lst")
        s3_client.upload_file(str(manifest), bucket, f"{key_prefix}/{split}_lst/{split}.lst")
        # Folder URIs end in "/": s3://.../train alone would also take in train_lst/.
        channels[split] = f"s3://{bucket}/{images_prefix}/"
        channels[f"{split}_lst"] = f"s3://{bucket}/{key_prefix}/{split}_lst/"
    return BuiltinInput(uri=f"s3://{bucket}/{key_prefix}/", channels=channels)
