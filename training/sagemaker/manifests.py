"""`.lst` manifests for SageMaker's built-in image-classification algorithm (raw image mode).

One line per image, tab-separated: a unique integer index, the class index, and the image path
relative to the channel's root, e.g. `7<TAB>1<TAB>defective/board-3.jpg`. Class indices are the
dataset's (defect_free=0, defective=1), the order im2rec gives sorted folder names, so the
algorithm's endpoint answers probabilities in the same order as ours.
"""

from pathlib import Path

from training.dataset import Sample


class ManifestError(ValueError):
    """An image path cannot be written into a .lst manifest."""


def manifest_lines(samples: list[Sample], root) -> list[str]:
    """The manifest lines (without newlines) of `samples`, numbered from 0 in the given order."""
    root = Path(root)
    lines = []
    for index, (path, label) in enumerate(samples):
        relative = Path(path).relative_to(root).as_posix()
        if any(character in relative for character in "\t\r\n"):
            raise ManifestError(
                f"{relative!r}: a tab or line break in a file name breaks the .lst format; rename the file.")
        lines.append(f"{index}\t{label}\t{relative}")
    return lines


def write_manifest(samples: list[Sample], root, path) -> Path:
    """Write the manifest of `samples` (paths under `root`) to `path`; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in manifest_lines(samples, root)))
    return path
