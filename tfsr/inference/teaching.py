"""Making a teacher set: degraded LR crops of photos and what a trusted upscaler makes of them.

Why: an upscaler's output is a fixed function of its input, so a student
trained towards it with a pixel loss learns edges and texture, not the
blurred average of every plausible detail that the pixel loss towards the
photo teaches. A slow teacher (Real-ESRGAN x4plus: seconds a crop on a
CPU) is run once, here, and its images are kept.

Each crop is a fixed function of the seed and its index: the source image
(drawn in proportion to its area), its position, and the degradation of its
LR (any of tfsr's chains, `tfsr.data.degradations`). The teacher sees the
crop with ``context`` LR pixels around it, and only the centre is kept, so
the teacher's border effects are not learned. Crops are written one by one
(files first, then their line in ``crops.jsonl``), so a killed run loses at
most the crop in hand and ``make_teacher_set`` on the same folder goes on
where it stopped. The held-out photos (``hold_out``, spread evenly as
``--hold-out`` does for training) give the ``valid`` crops that select a
student's checkpoints.
"""
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tfsr.color import as_uint8
from tfsr.data.images import DataError, atomic_output, image_size, read_image, write_image
from tfsr.data.imresize import imresize
from tfsr.data.sources import combined, split_held_out
from tfsr.data.teacher_sets import FORMAT, crop_files, finished_crops, is_teacher_set, read_manifest
from tfsr.errors import ModelError
from tfsr.progress import progress_bar

VALID_OFFSET = 2**30  # the valid crops' seeds: apart from the train crops'


@dataclass(frozen=True)
class TeachPlan:
    """What makes a teacher set what it is (the manifest's identity; the crop count may grow)."""

    sources: tuple
    scale: int = 4
    crop: int = 64
    context: int = 4
    chain: str = "photo"
    chain_options: dict = None
    seed: int = 0
    hold_out: int = 20
    valid_per_image: int = 2

    @property
    def window(self):
        """The HR side of a crop with its context."""
        return (self.crop + 2 * self.context) * self.scale


class Teacher:
    """An upscaler to learn from: an ncnn model, or tfsr's own ``.keras``/``.tflite``/preset (on LiteRT)."""

    def __init__(self, spec, threads=1, licence=None):
        from tfsr.inference.ncnn import NcnnPredictor, is_ncnn, wheel_description
        self.spec = str(spec)
        if is_ncnn(spec):
            self.predict = NcnnPredictor(spec, threads)
            self.scale, files = self.predict.scale, self.predict.files
            source = wheel_description(self.predict.wheel) if self.predict.wheel else None
        else:
            from tfsr.inference.files import model_path, open_predictor
            self.predict, self.scale, _ = open_predictor(spec, None, "litert", threads, precision="float32")
            files, source = [model_path(spec, precision="float32")], "tfsr"
        self.record = {"spec": self.spec, "scale": self.scale, "from": source, "licence": licence or "not stated",
                       "files": {Path(f).name: _sha256(f) for f in files}}

    def __call__(self, lr):
        """The teacher's uint8 image of a uint8 LR image."""
        sr = self.predict(lr[None].astype(np.float32))[0]
        return as_uint8(sr)


def _sha256(path):
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _usable(source, window):
    """(pairs large enough for a window, their areas, how many were too small)."""
    pairs, areas = [], []
    for pair in source.pairs:
        h, w = image_size(pair.hr)
        if min(h, w) >= window:
            pairs.append(pair)
            areas.append(float(h * w))
    return pairs, np.array(areas), len(source.pairs) - len(pairs)


def _manifest(plan, teacher, source, held, skipped):
    return {"format": FORMAT, "version": 1, **asdict(plan), "sources": list(plan.sources),
            "teacher": teacher.record, "images": len(source), "too_small": skipped,
            "held_out": [pair.name for pair in held.pairs]}


def _check_same(path, manifest):
    """`DataError` unless the set in ``path`` was made with the same plan and teacher."""
    stored = read_manifest(path)
    keys = [k for k in manifest if k not in ("teacher",)] + ["teacher.files", "teacher.scale"]
    differ = []
    for key in keys:
        a, b = stored, manifest
        for part in key.split("."):
            a, b = (a or {}).get(part), (b or {}).get(part)
        if a != b:
            differ.append(key)
    if differ:
        raise DataError(f"{path}: holds a teacher set made differently ({', '.join(differ)} differ); continue it "
                        f"with the same options or choose another --output")


def _window(image, rng, window):
    y = int(rng.integers(0, image.shape[0] - window + 1))
    x = int(rng.integers(0, image.shape[1] - window + 1))
    return y, x


def plan_crop(plan, pairs, areas, split, index):
    """(pair, rng) of crop ``index`` of ``split``: a fixed draw from the seed and the index."""
    if split == "valid":
        pair = pairs[index // plan.valid_per_image]
        return pair, np.random.default_rng([plan.seed, VALID_OFFSET + index])
    rng = np.random.default_rng([plan.seed, index])
    return pairs[int(rng.choice(len(pairs), p=areas / areas.sum()))], rng


def make_crop(plan, chain, teacher, pair, rng, seed):
    """(lr, teacher image, hr) uint8 crops: the window's LR degraded by ``chain``, the teacher run with context."""
    hr = read_image(pair.hr)
    y, x = _window(hr, rng, plan.window)
    hr = hr[y:y + plan.window, x:x + plan.window]
    lr = imresize(hr, 1 / plan.scale)
    if chain is not None:
        lr = chain.apply(hr, lr, seed)
    sr = teacher(lr)
    c, s, n = plan.context, plan.scale, plan.crop
    return lr[c:c + n, c:c + n], sr[c * s:(c + n) * s, c * s:(c + n) * s], hr[c * s:(c + n) * s, c * s:(c + n) * s], \
        (y + c * s, x + c * s)


def _write_crop(output, split, name, images):
    for kind, image in zip(("lr", "teacher", "hr"), images):
        write_image(crop_files(output, split, name)[kind], image, png_level=1)


def make_teacher_set(output, plan, teacher, count, log=print):
    """Make (or continue) the teacher set in ``output``: the valid crops, then ``count`` train crops.

    Returns {"made": crops made now, "train": train crops in the set, "valid": ..., "seconds": ...}.
    """
    from tfsr.data.degradations import degradation
    output = Path(output)
    if teacher.scale != plan.scale:
        raise ModelError(f"{teacher.spec}: the teacher upscales x{teacher.scale}, not x{plan.scale}")
    source = combined(plan.sources, plan.scale)
    train, held = split_held_out(source, plan.hold_out)
    pairs, areas, skipped = _usable(train, plan.window)
    valid_pairs = _usable(held, plan.window)[0]
    if not pairs:
        raise DataError(f"{', '.join(plan.sources)}: no image is at least {plan.window}x{plan.window} (a "
                        f"{plan.crop}-pixel LR crop with {plan.context} of context at x{plan.scale})")
    manifest = _manifest(plan, teacher, source, held, skipped)
    if is_teacher_set(output):
        _check_same(output, manifest)
    else:
        output.mkdir(parents=True, exist_ok=True)
        with atomic_output(output / "manifest.json") as tmp:
            tmp.write_text(json.dumps(manifest, indent=2))
    chain = degradation(plan.chain, plan.chain_options)
    chain = None if chain.is_identity else chain
    done = finished_crops(output)
    _drop_torn_line(output, done)
    have = {split: sum(c["split"] == split for c in done) for split in ("train", "valid")}
    todo = [("valid", i) for i in range(have["valid"], len(valid_pairs) * plan.valid_per_image)]
    todo += [("train", i) for i in range(have["train"], count)]
    started = time.monotonic()
    with open(output / "crops.jsonl", "a") as index, progress_bar(todo, desc="teacher crops", unit="crop") as bar:
        for split, i in bar:
            pair, rng = plan_crop(plan, valid_pairs if split == "valid" else pairs, areas, split, i)
            seed = (plan.seed, VALID_OFFSET + i if split == "valid" else i)
            name = f"{'v' if split == 'valid' else ''}{i:06d}"
            *images, (y, x) = make_crop(plan, chain, teacher, pair, rng, seed)
            _write_crop(output, split, name, images)
            index.write(json.dumps({"name": name, "split": split, "image": pair.name, "y": y, "x": x}) + "\n")
            index.flush()
            have[split] += 1
    return {"made": len(todo), **have, "seconds": time.monotonic() - started, "too_small": skipped}


def _drop_torn_line(output, done):
    """Rewrite ``crops.jsonl`` without a last line a kill left unfinished."""
    file = output / "crops.jsonl"
    text = file.read_text() if file.is_file() else ""
    if text and (not text.endswith("\n") or len(text.splitlines()) != len(done)):
        with atomic_output(file) as tmp:
            tmp.write_text("".join(json.dumps(c) + "\n" for c in done))
