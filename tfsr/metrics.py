"""PSNR and SSIM as the SR papers compute them.

Benchmark convention (Set5, Set14, B100, Urban100, Manga109): Y channel of
MATLAB ``rgb2ycbcr`` (BT.601, kept in float64, not rounded), ``scale``
pixels shaved from each border, SR output rounded to uint8 first. A
grayscale HR image (a one-channel file such as Set14's ``bridge``, passed
as H×W or H×W×1) is compared on its own gray values, as the MATLAB scripts
behind the published tables do, against the SR output's luma on the same
0-255 scale. SSIM is
Wang et al.'s MATLAB ``ssim_index``: 11×11 Gaussian (σ 1.5), K1 0.01,
K2 0.03, 'valid' filtering, mean of the SSIM map.

DIV2K validation convention (EDSR): PSNR over RGB with ``scale + 6`` pixels
shaved.

NumPy functions evaluate; the Keras metrics compute the same numbers with
TF ops during training.
"""
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfsr.color import GRAY_WEIGHTS, Y_WEIGHTS, as_uint8, luma, rgb_to_y


@dataclass(frozen=True)
class Convention:
    """How a PSNR/SSIM number was computed; printed next to every result."""

    channel: str  # "y" or "rgb"
    shave_extra: int  # border shaved = scale + shave_extra

    def shave(self, scale):
        return scale + self.shave_extra

    def describe(self, scale):
        what = "Y (BT.601)" if self.channel == "y" else "RGB"
        return f"{what}, shave {self.shave(scale)}"


BENCHMARK = Convention("y", 0)
DIV2K = Convention("rgb", 6)


def scored_planes(sr, hr, scale, convention=BENCHMARK):
    """(SR, HR) as PSNR and SSIM compare them: SR as saved to uint8, the convention's channel, border shaved."""
    sr = np.asarray(as_uint8(sr), np.float64)
    hr = np.asarray(hr, np.float64)
    gray = hr.ndim == 2 or hr.shape[-1] == 1
    if sr.shape[:2] != hr.shape[:2] or sr.shape[-1] != 3:
        raise ValueError(f"SR {sr.shape} and HR {hr.shape} do not match")
    if gray:
        sr, hr = luma(sr), hr.reshape(hr.shape[:2])
    elif convention.channel == "y":
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    b = convention.shave(scale)
    return sr[b:-b, b:-b], hr[b:-b, b:-b]


def psnr(sr, hr, scale, convention=BENCHMARK):
    """PSNR in dB of an SR image against its HR image (both H×W×3, [0, 255])."""
    sr, hr = scored_planes(sr, hr, scale, convention)
    mse = np.mean((sr - hr) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _gaussian_1d(size=11, sigma=1.5):
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(image, g):
    """'valid' correlation with the separable window outer(g, g)."""
    n = len(g)
    rows = sum(g[k] * image[k:image.shape[0] - n + 1 + k] for k in range(n))
    return sum(g[k] * rows[:, k:rows.shape[1] - n + 1 + k] for k in range(n))


def _ssim_gray(a, b):
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian_1d()
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a ** 2
    var_b = _filter_valid(b * b, g) - mu_b ** 2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def ssim(sr, hr, scale, convention=BENCHMARK):
    """SSIM of an SR image against its HR image (mean over channels for RGB)."""
    sr, hr = scored_planes(sr, hr, scale, convention)
    if sr.ndim == 2:
        return _ssim_gray(sr, hr)
    return float(np.mean([_ssim_gray(sr[..., c], hr[..., c]) for c in range(sr.shape[-1])]))


# --- Keras metrics: the same numbers with TF ops, for validation inside fit ---

def _tf_prepare(y_true, y_pred, scale, convention):
    sr = tf.clip_by_value(tf.floor(tf.cast(y_pred, tf.float64) + 0.5), 0.0, 255.0)
    hr = tf.cast(y_true, tf.float64)
    gray = tf.shape(hr)[-1] == 1
    weighted = lambda x, w: tf.tensordot(x, tf.constant(w), 1)[..., None]
    as_gray = lambda: (weighted(sr, GRAY_WEIGHTS), hr[..., :1])
    if convention.channel == "y":
        sr, hr = tf.cond(gray, as_gray, lambda: (16.0 + weighted(sr, Y_WEIGHTS),
                                                  16.0 + weighted(hr[..., :3], Y_WEIGHTS)))
    else:
        sr, hr = tf.cond(gray, as_gray, lambda: (sr, hr))
    b = convention.shave(scale)
    return sr[:, b:-b, b:-b], hr[:, b:-b, b:-b]


def _tf_ssim(sr, hr):
    """Per-image SSIM of NHWC float64 batches, averaged over channels."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = tf.constant(_gaussian_1d(), tf.float64)
    n, c = tf.shape(sr)[0], tf.shape(sr)[3]

    def planes(x):  # (N, H, W, C) -> (N·C, H, W, 1): filter every channel alike
        x = tf.transpose(x, [0, 3, 1, 2])
        return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:], [1]], 0))

    def filt(x):
        x = tf.nn.conv2d(x, tf.reshape(g, (11, 1, 1, 1)), 1, "VALID")
        return tf.nn.conv2d(x, tf.reshape(g, (1, 11, 1, 1)), 1, "VALID")

    a, b = planes(sr), planes(hr)
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return tf.reduce_mean(tf.reshape(tf.reduce_mean(ssim_map, axis=[1, 2, 3]), (n, c)), axis=1)


class _ImageMetric(keras.metrics.Metric):
    """Mean over images of a per-image quality number."""

    def __init__(self, scale, convention=BENCHMARK, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = int(scale)
        self.convention = convention
        self.total = self.add_variable(shape=(), initializer="zeros", name="total", dtype="float64")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count", dtype="float64")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.per_image(*_tf_prepare(y_true, y_pred, self.scale, self.convention))
        self.total.assign_add(tf.reduce_sum(values))
        self.count.assign_add(tf.cast(tf.size(values), tf.float64))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def get_config(self):
        return {"name": self.name, "scale": self.scale, "channel": self.convention.channel,
                "shave_extra": self.convention.shave_extra}

    @classmethod
    def from_config(cls, config):
        convention = Convention(config.pop("channel"), config.pop("shave_extra"))
        return cls(convention=convention, **config)


@keras.saving.register_keras_serializable(package="tfsr")
class PSNR(_ImageMetric):
    """Mean per-image PSNR (benchmark convention unless told otherwise)."""

    def __init__(self, scale, convention=BENCHMARK, name="psnr", **kwargs):
        super().__init__(scale, convention, name=name, **kwargs)

    def per_image(self, sr, hr):
        mse = tf.reduce_mean(tf.square(sr - hr), axis=[1, 2, 3])
        return 10.0 * tf.math.log(255.0 ** 2 / mse) / tf.math.log(tf.constant(10.0, tf.float64))


@keras.saving.register_keras_serializable(package="tfsr")
class SSIM(_ImageMetric):
    """Mean per-image SSIM (benchmark convention unless told otherwise)."""

    def __init__(self, scale, convention=BENCHMARK, name="ssim", **kwargs):
        super().__init__(scale, convention, name=name, **kwargs)

    def per_image(self, sr, hr):
        return _tf_ssim(sr, hr)
