"""From a ``--dataset`` value to its source: bundled, DIV2K, benchmark sets, tfds, folders and teacher sets."""
from pathlib import Path

from tfsr.data.div2k import div2k
from tfsr.data.images import DataError
from tfsr.data.sources import BENCHMARKS, TfdsSource, benchmark, combined, image_folder, joined, sample
from tfsr.data.teacher_sets import is_teacher_set, teacher_set


def resolve(spec, scale, split="train", data_dir=None, degradation="bicubic", download=True, teacher_share=1.0):
    """A `PairedSet` from a ``--dataset`` value.

    ``sample``, ``div2k``, a benchmark name (``set5`` ...), a folder path,
    several folders separated by commas (``train,train_extra``: one set), or
    a teacher set made by ``tfsr.teach`` (its targets are the teacher's
    images, ``teacher_share`` of them), or several teacher sets separated by
    commas. ``split`` selects train/valid for ``sample``, ``div2k`` and
    teacher sets.
    """
    key = str(spec).lower()
    if key == "sample":
        return sample(scale, split)
    if key == "div2k":
        return div2k(scale, split, degradation, data_dir, download=download)
    if key in BENCHMARKS:
        return benchmark(key, scale, data_dir)
    if key.startswith("tfds:"):
        return TfdsSource(str(spec)[5:], "validation" if split == "valid" else split, scale, data_dir)
    if "," in str(spec):
        parts = [part.strip() for part in str(spec).split(",")]
        teacher_sets = [is_teacher_set(part) for part in parts]
        if any(teacher_sets) and not all(teacher_sets):
            raise DataError(f"--dataset {spec}: teacher sets join only other teacher sets, not photo folders")
        if all(teacher_sets):
            share = teacher_share if split == "train" else 1.0
            return joined([teacher_set(part, scale, split, share) for part in parts],
                          [Path(part).name for part in parts])
        return combined(parts, scale)
    if is_teacher_set(spec):
        return teacher_set(spec, scale, split, teacher_share if split == "train" else 1.0)
    return image_folder(spec, scale)
