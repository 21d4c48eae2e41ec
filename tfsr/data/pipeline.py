"""tf.data pipelines: random aligned patches for training, whole images for validation.

Training: decode -> cache -> repeat -> shuffle (seeded) -> random aligned
crop -> random flip and 90° rotation -> degradation of the LR patch and
sharpening of the HR target (both optional, `tfsr.data.degradations`) ->
batch -> prefetch, with parallel maps. Randomness is stateless and keyed on
a per-element seed drawn from ``seed``, so a run is reproducible whatever
the parallelism.
"""
import warnings

import numpy as np
import tensorflow as tf

from tfsr.data.degradations import sharpen
from tfsr.data.images import ImageError, SkippedWarning
from tfsr.data.sources import TfdsSource, check_pairs

AUTOTUNE = tf.data.AUTOTUNE


class SkipCounter:
    """Counts images dropped at decode time when bad images are skipped."""

    def __init__(self):
        self.skipped = []

    def __len__(self):
        return len(self.skipped)


def image_pairs(source, skip_bad=False, counter=None, min_lr_size=1, keep_gray=False):
    """A dataset of whole (lr, hr) uint8 images from a source.

    With ``keep_gray``, grayscale HR files stay one-channel so that the
    metrics score them on their gray values (LR is always RGB).

    ``PairedSet`` files are checked from their headers first (clear errors
    before training starts), then decoded in parallel with PIL. A file that
    fails to decode raises `ImageError` naming it, or with ``skip_bad`` is
    dropped with a warning and counted in ``counter``.
    """
    if isinstance(source, TfdsSource):
        split = source.builder().as_dataset(split=source.split)
        s = source.scale
        return split.map(lambda ex: (ex["lr"], ex["hr"][:tf.shape(ex["lr"])[0] * s, :tf.shape(ex["lr"])[1] * s]),
                         num_parallel_calls=AUTOTUNE)
    paired = check_pairs(source, min_lr_size, skip_bad)
    counter = counter if counter is not None else SkipCounter()

    def load(index):
        try:
            return paired.load(int(index), keep_gray)
        except ImageError as e:
            if not skip_bad:
                raise
            warnings.warn(f"skipped: {e}", SkippedWarning)
            counter.skipped.append(str(e))
            empty = np.zeros((0, 0, 3), np.uint8)
            return empty, empty

    def decode(index):
        lr, hr = tf.numpy_function(load, [index], (tf.uint8, tf.uint8), stateful=False)
        return tf.ensure_shape(lr, (None, None, 3)), tf.ensure_shape(hr, (None, None, None if keep_gray else 3))

    ds = tf.data.Dataset.range(len(paired)).map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.filter(lambda lr, hr: tf.size(lr) > 0) if skip_bad else ds


def _cache(ds, cache):
    if cache == "memory":
        return ds.cache()
    if cache:
        return ds.cache(str(cache))
    return ds


def _crop_and_augment(lr, hr, seed, scale, patch_size, augment):
    """A random LR patch and the HR patch aligned with it, randomly flipped/rotated."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    shape = tf.shape(lr)
    y = tf.random.stateless_uniform([], seeds[0], 0, shape[0] - patch_size + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], seeds[1], 0, shape[1] - patch_size + 1, dtype=tf.int32)
    lr = lr[y:y + patch_size, x:x + patch_size]
    hr = hr[y * scale:(y + patch_size) * scale, x * scale:(x + patch_size) * scale]
    if augment:
        flip = tf.random.stateless_uniform([], seeds[2]) < 0.5
        lr, hr = tf.cond(flip, lambda: (lr[:, ::-1], hr[:, ::-1]), lambda: (lr, hr))
        k = tf.random.stateless_uniform([], seeds[3], 0, 4, dtype=tf.int32)
        lr, hr = tf.image.rot90(lr, k), tf.image.rot90(hr, k)
    lr = tf.ensure_shape(lr, (patch_size, patch_size, 3))
    hr = tf.ensure_shape(hr, (patch_size * scale, patch_size * scale, 3))
    return tf.cast(lr, tf.float32), tf.cast(hr, tf.float32)


def _degrade(lr, hr, seed, degradation, sharpen_target):
    """The patch's LR made by ``degradation`` from its HR and bicubic LR; the target sharpened if asked."""
    if degradation is not None and not degradation.is_identity:
        lr = degradation(hr, lr, tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), 1))
    if sharpen_target:
        hr = sharpen(hr)
    return lr, hr


def training_dataset(source, batch_size=16, patch_size=48, seed=0, cache="memory",
                     patches_per_image=1, augment=True, skip_bad=False, counter=None, degradation=None,
                     sharpen_target=False, shard=(1, 0)):
    """Endless batches of (lr, hr) float32 patches in [0, 255].

    Args:
        source: a `PairedSet` or `TfdsSource`.
        patch_size: LR patch side; HR patches are ``patch_size · scale``.
        cache: ``"memory"``, a file path for an on-disk cache, or None.
        patches_per_image: random patches cut from each image per pass.
        skip_bad: drop unreadable/too-small images with a warning instead of failing.
        degradation: a `tfsr.data.degradations.Degradation` making each LR
            patch from its HR patch (None: the source's LR as it is).
        sharpen_target: unsharp-mask the HR patches, as Real-ESRGAN trains.
        shard: (count, index): make only patches index, index + count, … of
            the stream (one worker's share; the others make the rest), still
            batched by ``batch_size``, which tf.distribute splits per replica.
    """
    scale = source.scale
    ds = image_pairs(source, skip_bad, counter, min_lr_size=patch_size)
    ds = _cache(ds, cache)
    n = len(source)
    # Shuffled after repeat with a fixed order: every iterator of this dataset yields the same endless
    # stream, however often it was iterated before (a distributed run iterates a copy of it).
    ds = ds.repeat().shuffle(n, seed=seed, reshuffle_each_iteration=False)
    if patches_per_image > 1:
        ds = ds.flat_map(lambda lr, hr: tf.data.Dataset.from_tensors((lr, hr)).repeat(patches_per_image))
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds).shard(*shard).map(
        lambda pair, s: _degrade(*_crop_and_augment(pair[0], pair[1], s, scale, patch_size, augment), s,
                                 degradation, sharpen_target),
        num_parallel_calls=AUTOTUNE)
    if patches_per_image > 1:  # don't let a batch hold patches of one image only
        ds = ds.shuffle(batch_size * patches_per_image, seed=seed, reshuffle_each_iteration=False)
    return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def multiscale_training_dataset(sources, seed=0, **kwargs):
    """Batches from several scales (MDSR): each batch has one random scale.

    ``sources`` holds one source per scale; keyword arguments go to
    `training_dataset`.
    """
    per_scale = [training_dataset(src, seed=seed + i, **kwargs) for i, src in enumerate(sources)]
    choice = tf.data.Dataset.random(seed=seed).map(lambda r: tf.cast(r % len(per_scale), tf.int64))
    return tf.data.Dataset.choose_from_datasets(per_scale, choice).prefetch(AUTOTUNE)


def validation_dataset(source, center_crop=None, cache="memory", skip_bad=False):
    """Whole (lr, hr) float32 images, one per batch, in a fixed order.

    Grayscale HR images stay one-channel (see `tfsr.metrics`).

    ``center_crop`` (an LR side) keeps only the centre of each image, to
    bound validation time on large images.
    """
    scale = source.scale
    ds = image_pairs(source, skip_bad, min_lr_size=center_crop or 1, keep_gray=True)
    if center_crop:
        def crop(lr, hr):
            shape = tf.shape(lr)
            y, x = (shape[0] - center_crop) // 2, (shape[1] - center_crop) // 2
            return (lr[y:y + center_crop, x:x + center_crop],
                    hr[y * scale:(y + center_crop) * scale, x * scale:(x + center_crop) * scale])
        ds = ds.map(crop)
    ds = ds.map(lambda lr, hr: (tf.cast(lr, tf.float32)[None], tf.cast(hr, tf.float32)[None]))
    return _cache(ds, cache).prefetch(AUTOTUNE)

