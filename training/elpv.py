"""Turn the installed ELPV solar-cell dataset into class-folder datasets for training and a demo.

ELPV (elpv-dataset on PyPI): 2,624 electroluminescence images of solar cells, 300x300 greyscale,
each with the probability that the cell is defective as judged by experts. The images are
licensed CC BY-NC-SA 4.0 (attribution, non-commercial, share-alike; Buerhop-Lutz et al. 2018,
Deitsch et al. 2019); the package's code is Apache-2.0. Models trained on them inherit the
non-commercial condition.

Probability 0 -> defect_free, 1 -> defective; the ambiguous 0.33 and 0.67 are left out. A
stratified holdout the model never sees goes to `<dest>/holdout/<class>/`, the rest to
`<dest>/train/<class>/`. File names are kept (cell0001.png...), so a file stem can serve as a
product id. `inspection-app prepare-elpv DEST_DIR` runs it; `inspection-app demo` too, into var/demo/elpv.
"""

import json
import shutil
from pathlib import Path

import elpv_dataset
import numpy as np

from training.dataset import CLASSES, DatasetError
from training.options import ELPV_HOLDOUT_PER_CLASS

DATA_DIR = Path(elpv_dataset.__file__).parent / "data"
LABELS = {0.0: "defect_free", 1.0: "defective"}  # ambiguous probabilities are not listed
MARKER = "elpv-prepared.json"


def prepare_elpv(dest_dir, *, holdout_per_class=ELPV_HOLDOUT_PER_CLASS, seed=0, limit_per_class=None) -> tuple[Path, Path]:
    """Write `<dest>/train` and `<dest>/holdout` class-folder datasets; returns both paths.

    Idempotent: a marker file records the settings, and a second call with the same settings
    returns at once. `<dest>/train` and `<dest>/holdout` belong to this function: they are
    rebuilt from scratch when the settings change or a previous run was interrupted.
    `limit_per_class` keeps only the first N images of each class (by name), for quick tests.
    """
    dest = Path(dest_dir)
    train_dir, holdout_dir = dest / "train", dest / "holdout"
    marker = dest / MARKER
    settings = {"holdout_per_class": holdout_per_class, "seed": seed, "limit_per_class": limit_per_class}
    if marker.is_file():
        state = json.loads(marker.read_text())
        if state["settings"] == settings and state["complete"]:
            return train_dir, holdout_dir
        # Our own earlier output (other settings, or interrupted): start again.
        shutil.rmtree(train_dir, ignore_errors=True)
        shutil.rmtree(holdout_dir, ignore_errors=True)
    elif any(folder.exists() for folder in (train_dir, holdout_dir)):
        raise DatasetError(f"{dest} already has train/ or holdout/ not made by prepare_elpv; choose another folder.")

    dest.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"settings": settings, "complete": False}))
    counts = {}
    for index, (name, files) in enumerate(_files_by_class().items()):
        files = files[:limit_per_class]
        if len(files) <= holdout_per_class:
            raise DatasetError(f"{name}: {len(files)} images cannot leave {holdout_per_class} for the holdout and "
                               "some to train; choose a smaller holdout")
        order = np.random.default_rng([seed, index]).permutation(len(files))
        holdout = {files[i] for i in order[:holdout_per_class]}
        for file in files:
            folder = (holdout_dir if file in holdout else train_dir) / name
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA_DIR / "images" / file, folder / file)
        counts[name] = {"train": len(files) - len(holdout), "holdout": len(holdout)}
    marker.write_text(json.dumps({"settings": settings, "complete": True, "counts": counts}, indent=2) + "\n")
    return train_dir, holdout_dir


def _files_by_class() -> dict[str, list[str]]:
    """Image file names per class, sorted, from labels.csv ('images/cell0001.png  1.0  mono')."""
    files = {name: [] for name in CLASSES}
    for line in (DATA_DIR / "labels.csv").read_text().splitlines():
        path, probability, _cell_type = line.split()
        name = LABELS.get(float(probability))
        if name:
            files[name].append(Path(path).name)
    return {name: sorted(names) for name, names in files.items()}

