"""Where LR/HR image pairs come from: folders, benchmark sets, DIV2K, the sample.

A source is a `PairedSet`: named pairs of an HR file and, optionally, its LR
file. When the LR file is absent it is made from the HR image with the
MATLAB-compatible bicubic (HR first cropped to a multiple of the scale), the
way published LR images were made.
"""
import dataclasses
import math
import os
import re
import warnings
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tfsr.data.images import DataError, ImageError, SkippedWarning, image_size, list_images, read_image
from tfsr.data.imresize import imresize

BENCHMARKS = {"set5": "Set5", "set14": "Set14", "b100": "B100", "urban100": "Urban100",
              "manga109": "Manga109"}


@dataclass(frozen=True)
class Pair:
    name: str
    hr: Path
    lr: Path = None  # None: generated from ``hr``
    downscale: float = 1.0  # the HR image is first shrunk by this factor (MATLAB bicubic): scale augmentation


@dataclass
class PairedSet:
    """A named list of `Pair`s at one scale.

    With a ``degradation`` (`tfsr.data.degradations`), every LR image is
    degraded on loading, with a seed fixed per image: ``seed`` and the
    image's name (`image_seed`), so any machine, order or subset of the
    images gives the same degraded LR.
    """

    name: str
    scale: int
    pairs: list
    degradation: object = None
    seed: int = 0
    lr_files: str = "bicubic"  # how the LR files were made (before any ``degradation``)

    def __len__(self):
        return len(self.pairs)

    def load(self, index, keep_gray=False):
        """The (lr, hr) uint8 arrays of pair ``index``; HR cropped to LR·scale."""
        pair = self.pairs[index]
        lr, hr = load_pair(pair, self.scale, keep_gray)
        if self.degradation is not None:
            lr = self.degradation.apply(hr, lr, (self.seed, image_seed(pair.name)))
        return lr, hr

    def degraded(self, degradation, seed=0):
        """This set with its LR images degraded by ``degradation`` (None or bicubic: as it is)."""
        if degradation is None or degradation.is_identity:
            return self
        return dataclasses.replace(self, degradation=degradation, seed=seed)

    def describe_input(self):
        """What the LR images are, for result lines."""
        if self.degradation is None:
            return f"LR as loaded ({self.lr_files})"
        return f"LR degraded by {self.degradation.describe()}, seed {self.seed} (per image: seed, crc32 of its name)"


def scale_augmented(paired, factors):
    """``paired`` with every HR image also shrunk by each of ``factors`` (e.g. 0.6-0.9), LR made from it.

    VDSR, DRRN and MemNet train on such downscaled copies of the 291 images:
    more scales of the same textures. Each copy is a pair named
    ``<name>@<factor>``; its LR is MATLAB bicubic of the shrunk HR (LR files,
    made for the original size, are used only by the factor-1 pair).
    """
    pairs = list(paired.pairs)
    for factor in factors:
        if not 0 < factor < 1:
            raise DataError(f"scale augmentation factors shrink the HR image: 0 < factor < 1, got {factor}")
        pairs += [dataclasses.replace(pair, name=f"{pair.name}@{factor:g}", lr=None, downscale=factor)
                  for pair in paired.pairs]
    return dataclasses.replace(paired, name=f"{paired.name} +{len(factors)} scales", pairs=pairs)


def split_held_out(paired, count):
    """(training set, held-out set): ``count`` images spread evenly over ``paired`` are kept out of training.

    The held-out images are every (n/count)-th of the sorted list, so a set made
    of several folders gives each its share; they validate the run and select
    its checkpoints, leaving the benchmark sets for reporting.
    """
    if not 0 < count < len(paired):
        raise DataError(f"--hold-out {count}: {paired.name} has {len(paired)} images; hold out 1 to "
                        f"{len(paired) - 1}")
    chosen = {int((i + 0.5) * len(paired) / count) for i in range(count)}
    kept = [pair for i, pair in enumerate(paired.pairs) if i not in chosen]
    held = [pair for i, pair in enumerate(paired.pairs) if i in chosen]
    return (dataclasses.replace(paired, name=f"{paired.name} (without {count} held out)", pairs=kept),
            dataclasses.replace(paired, name=f"{paired.name} (held out: {count})", pairs=held))


def image_seed(name):
    """A stable 31-bit number for an image name (its CRC-32), the per-image part of a degradation seed."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@dataclass
class TfdsSource:
    """A prepared ``tensorflow-datasets`` SR dataset such as ``div2k/bicubic_x4``.

    It must already be built in the tfds data folder (``--data-dir`` or
    tfds' default); tfsr does not trigger tfds' own download.
    """

    name: str
    split: str
    scale: int
    data_dir: Path = None

    def __post_init__(self):
        match = re.search(r"_x(\d)$", self.name)
        if match and int(match.group(1)) != self.scale:
            raise DataError(f"tfds:{self.name} is a x{match.group(1)} dataset, not x{self.scale}")

    def builder(self):
        import tensorflow_datasets as tfds
        try:
            builder = tfds.builder(self.name, data_dir=None if self.data_dir is None else str(self.data_dir))
        except Exception as e:
            raise DataError(f"tfds:{self.name}: unknown tensorflow-datasets dataset ({e})") from None
        if not builder.is_prepared():
            raise DataError(f"tfds:{self.name}: not prepared in {builder.data_dir}; build it with "
                            f"`tfds build {self.name}` or use --dataset div2k")
        return builder

    def __len__(self):
        return self.builder().info.splits[self.split].num_examples


def load_pair(pair, scale, keep_gray=False):
    """Decode one pair: LR (always RGB) from its file or made with MATLAB bicubic.

    With ``keep_gray`` a grayscale HR file stays one-channel (H, W, 1), which
    the metrics evaluate on its gray values.
    """
    hr = read_image(pair.hr, keep_gray=keep_gray)
    if pair.downscale != 1:
        hr = imresize(hr, pair.downscale)
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    if h == 0 or w == 0:
        raise ImageError(f"{pair.hr}: {hr.shape[1]}x{hr.shape[0]} is smaller than the scale x{scale}")
    hr = hr[:h * scale, :w * scale]
    if pair.lr is None:
        return np.repeat(imresize(hr, 1 / scale), 3 // hr.shape[-1], axis=-1), hr
    lr = read_image(pair.lr)
    if lr.shape[:2] != (h, w):
        raise ImageError(f"{pair.lr}: LR is {lr.shape[1]}x{lr.shape[0]} but HR {pair.hr.name} "
                         f"at x{scale} needs {w}x{h}")
    return lr, hr


def check_pairs(paired, min_lr_size=1, skip_bad=False):
    """Check every pair from the file headers, before any decoding.

    Catches non-images, zero-size and oversized images, LR/HR size
    mismatches and images whose LR side is smaller than ``min_lr_size``.
    Raises `ImageError` on the first bad pair, or with ``skip_bad`` drops it
    with a warning and returns the rest.
    """
    good, bad = [], []
    for pair in paired.pairs:
        try:
            _check_pair(pair, paired.scale, min_lr_size)
            good.append(pair)
        except ImageError as e:
            if not skip_bad:
                raise
            bad.append(str(e))
    for message in bad:
        warnings.warn(f"skipped: {message}", SkippedWarning, stacklevel=2)
    if bad:
        warnings.warn(f"{paired.name}: skipped {len(bad)} bad image(s) of {len(paired.pairs)}", SkippedWarning,
                      stacklevel=2)
    if not good:
        raise DataError(f"{paired.name}: no usable images left")
    return dataclasses.replace(paired, pairs=good)


def _check_pair(pair, scale, min_lr_size):
    hr_h, hr_w = (math.ceil(pair.downscale * n) for n in image_size(pair.hr))
    h, w = hr_h // scale, hr_w // scale
    if pair.lr is not None:
        lr_h, lr_w = image_size(pair.lr)
        if (lr_h, lr_w) != (h, w):
            raise ImageError(f"{pair.lr}: LR is {lr_w}x{lr_h} but HR {pair.hr.name} "
                             f"at x{scale} needs {w}x{h}")
    if min(h, w) < min_lr_size:
        raise ImageError(f"{pair.hr}: {hr_w}x{hr_h} is too small for LR patches of "
                         f"{min_lr_size} at x{scale} (needs at least "
                         f"{min_lr_size * scale}x{min_lr_size * scale})")


def folder(hr_dir, scale, lr_dir=None, name=None, recursive=False):
    """HR images in ``hr_dir``; LR from ``lr_dir`` or generated.

    An LR file matches its HR file by name: ``baby.png`` pairs with
    ``babyx4.png`` (EDSR/DIV2K naming) or ``baby.png``. Without LR files,
    ``recursive`` also takes the images of subfolders (named by their
    relative path, e.g. ``T91/t1``).
    """
    hr_dir = Path(hr_dir)
    if lr_dir is None:
        pairs = [Pair(str(p.relative_to(hr_dir).with_suffix("")), p) for p in list_images(hr_dir, recursive)]
        return PairedSet(name or hr_dir.name, scale, pairs)
    by_stem = {p.stem: p for p in list_images(lr_dir)}
    pairs = []
    for p in list_images(hr_dir):
        lr = by_stem.get(f"{p.stem}x{scale}") or by_stem.get(p.stem)
        if lr is None:
            raise DataError(f"{Path(lr_dir) / (p.stem + f'x{scale}' + p.suffix)}: missing LR file for {p}")
        pairs.append(Pair(p.stem, p, lr))
    return PairedSet(name or hr_dir.name, scale, pairs)


def image_folder(path, scale):
    """A user's folder: ``path/HR`` (+ optional ``path/LR_bicubic/X{s}`` or
    ``path/LR``), or a folder of HR images, subfolders included."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: folder does not exist")
    if (path / "HR").is_dir():
        lr_dir = next((d for d in (path / "LR_bicubic" / f"X{scale}", path / "LR") if d.is_dir()), None)
        if lr_dir is None and (path / "LR_bicubic").is_dir():
            have = ", ".join(sorted(d.name for d in (path / "LR_bicubic").iterdir() if d.is_dir()))
            raise DataError(f"{path / 'LR_bicubic' / f'X{scale}'}: no LR folder for x{scale} "
                            f"(found {have or 'none'})")
        return folder(path / "HR", scale, lr_dir, name=path.name)
    return folder(path, scale, name=path.name, recursive=True)


def combined(paths, scale):
    """One `PairedSet` of several folders' images (``--dataset a,b``), each named ``<folder>/<image>``."""
    return joined([image_folder(path, scale) for path in paths])


def joined(parts, prefixes=None):
    """One `PairedSet` of several sets of one scale, each pair named ``<prefix>/<name>`` (prefix: the set's name)."""
    if len(parts) == 1:
        return parts[0]
    prefixes = prefixes or [part.name for part in parts]
    pairs = [dataclasses.replace(pair, name=f"{prefix}/{pair.name}") for part, prefix in zip(parts, prefixes)
             for pair in part.pairs]
    lr_files = sorted({part.lr_files for part in parts})
    return PairedSet("+".join(part.name for part in parts), parts[0].scale, pairs, lr_files="; ".join(lr_files))


def data_root(data_dir=None):
    """``data_dir``, else ``$TFSR_DATA_DIR``, else ``~/.tfsr/datasets``."""
    return Path(data_dir or os.environ.get("TFSR_DATA_DIR") or Path.home() / ".tfsr" / "datasets")


def benchmark(name, scale, data_dir=None):
    """Set5, Set14, B100, Urban100 or Manga109 in the EDSR benchmark layout.

    Looked up as ``<root>/Set5`` or ``<root>/benchmark/Set5``; uses
    ``LR_bicubic/X{s}`` when present, else makes LR with MATLAB bicubic.
    """
    root = data_root(data_dir)
    dirname = BENCHMARKS[name.lower()]
    for candidate in (root / dirname, root / "benchmark" / dirname):
        if candidate.is_dir():
            return image_folder(candidate, scale)
    raise DataError(f"{root / dirname}: benchmark set {dirname} not found (expected "
                    f"{root / dirname / 'HR' / '*.png'}, optionally {dirname}/LR_bicubic/X{scale})")


def sample(scale, split="train"):
    """The photographs bundled with tfsr (public domain / CC0)."""
    path = Path(str(resources.files("tfsr.data") / "sample" / split))
    return folder(path, scale, name=f"sample/{split}")


def bicubic_upscale(lr, scale):
    """The bicubic baseline: MATLAB ``imresize(lr, scale)`` on uint8."""
    return imresize(np.asarray(lr, np.uint8), scale)
