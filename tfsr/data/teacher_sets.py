"""Teacher sets: LR crops of photos beside what a trusted upscaler made of them, read as training pairs.

A teacher set (made by ``tfsr.teach``, `tfsr.inference.teaching`) is a
folder::

    manifest.json            the teacher (files, SHA-256, licence), the degradation chain, seeds, sources
    crops.jsonl              one line per finished crop: name, split, source image, position
    train/lr/000000.png      the degraded LR crop the teacher was given (centre, without its context)
    train/teacher/000000.png the teacher's output for it (scale × larger)
    train/hr/000000.png      the photo's own pixels there
    valid/...                the same, from the photos held out of training (``--hold-out``)

Read as a `PairedSet` whose targets are the teacher's images, it trains
under the same pipeline as any folder: crops, flips and rotations stay
paired, and the LR is used as it is (it was degraded when the set was made).
``teacher_share`` < 1 makes that share of the crops (fixed per crop) train
towards the photo's own pixels instead.
"""
import json
from pathlib import Path

from tfsr.data.images import DataError
from tfsr.data.sources import Pair, PairedSet, image_seed

FORMAT = "tfsr-teacher-set"
SPLITS = ("train", "valid")


def is_teacher_set(path):
    """Whether ``path`` is a teacher set's folder."""
    return (Path(path) / "manifest.json").is_file()


def read_manifest(path):
    """The manifest of a teacher set; `DataError` for anything else."""
    file = Path(path) / "manifest.json"
    try:
        manifest = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{file}: not a readable teacher-set manifest ({e})") from None
    if manifest.get("format") != FORMAT:
        raise DataError(f"{file}: not a teacher-set manifest (format {manifest.get('format')!r})")
    return manifest


def finished_crops(path):
    """The crops recorded in ``crops.jsonl``, in order; a line torn by a kill is dropped."""
    file = Path(path) / "crops.jsonl"
    if not file.is_file():
        return []
    crops = []
    for line in file.read_text().splitlines():
        try:
            crops.append(json.loads(line))
        except ValueError:
            break  # only the last line can be torn: it is written after the crop's files
    return crops


def crop_files(path, split, name):
    """{"lr", "teacher", "hr"}: the three files of one crop."""
    return {kind: Path(path) / split / kind / f"{name}.png" for kind in ("lr", "teacher", "hr")}


def uses_teacher(name, share):
    """Whether the crop ``name`` trains towards the teacher (fixed per crop: its CRC-32 against ``share``)."""
    return image_seed(name) < share * 2**31


def teacher_set(path, scale, split="train", teacher_share=1.0):
    """The ``split`` crops of a teacher set as a `PairedSet` of (LR, target) files.

    The target is the teacher's image, or for a ``1 - teacher_share`` part
    of the crops the photo's own. `DataError` if the set is of another
    scale or has no crops of that split yet.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest["scale"] != scale:
        raise DataError(f"{path}: a x{manifest['scale']} teacher set, not x{scale}")
    if not 0 <= teacher_share <= 1:
        raise DataError(f"--teacher-share is between 0 and 1, got {teacher_share}")
    names = [crop["name"] for crop in finished_crops(path) if crop["split"] == split]
    if not names:
        raise DataError(f"{path}: no {split} crops yet (make them with python -m tfsr.teach)")
    pairs = []
    for name in names:
        files = crop_files(path, split, name)
        target = files["teacher"] if uses_teacher(name, teacher_share) else files["hr"]
        pairs.append(Pair(name, target, files["lr"]))
    share = "" if teacher_share == 1 else f", {teacher_share:g} teacher"
    return PairedSet(f"{path.name}/{split} ({manifest['teacher']['spec']}{share})", scale, pairs,
                     lr_files=f"{manifest['chain']} when the set was made, seed {manifest['seed']}")
