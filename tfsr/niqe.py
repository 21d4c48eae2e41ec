"""NIQE, the no-reference "naturalness" score (Mittal et al. 2013), as MATLAB's ``niqe`` computes it.

Lower is more natural. The image (its MATLAB ``rgb2ycbcr`` luma, rounded; a
gray image as it is) is cut into 96×96 blocks; each block gives 18 statistics
of its locally normalised luminance (generalised-Gaussian fits of the
coefficients and of their products with the four neighbours) at full and at
half size (MATLAB bicubic), 36 in all. The score is the distance between the
multivariate Gaussian of the image's blocks and MATLAB's default model of
pristine photographs.

The pristine model (``niqe_pristine.npz``: a 36-vector mean and 36×36
covariance) holds the numbers of MATLAB's default model as released by its
authors (LIVE, UT Austin, ``niqe_release``'s ``modelparameters.mat``), read
from the copy BasicSR bundles (``basicsr/metrics/niqe_pris_params.npz``,
Apache-2.0). Nothing is downloaded. On Set14's ``baboon.png`` this gives
5.7296, MATLAB R2021a's value.
"""
import math
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from tfsr.color import rgb_to_y
from tfsr.data.imresize import imresize

BLOCK = 96
_ALPHAS = np.arange(0.2, 10.001, 0.001)  # the generalised-Gaussian shapes MATLAB searches


@lru_cache(maxsize=1)
def pristine_model():
    """(mean, covariance) of MATLAB's default pristine model."""
    data = np.load(Path(__file__).with_name("niqe_pristine.npz"))
    return data["mean"], data["cov"]


@lru_cache(maxsize=1)
def _shape_ratios():
    from scipy.special import gamma
    return gamma(2 / _ALPHAS) ** 2 / (gamma(1 / _ALPHAS) * gamma(3 / _ALPHAS))


def _gaussian_window(size=7, sigma=7 / 6):
    """MATLAB ``fspecial('gaussian', 7, 7/6)``."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma * sigma))
    return g / g.sum()


def _filter(image, window):
    """``imfilter(image, window, 'replicate')`` for a symmetric window."""
    from scipy.ndimage import convolve
    return convolve(image, window, mode="nearest")


def _aggd(values):
    """Asymmetric generalised-Gaussian fit of each row: (shape α, left β, right β)."""
    from scipy.special import gamma
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a flat block has no negative or positive values: NaN
        negative, positive = np.where(values < 0, values, np.nan), np.where(values > 0, values, np.nan)
        left = np.sqrt(np.nanmean(negative ** 2, axis=1))
        right = np.sqrt(np.nanmean(positive ** 2, axis=1))
        ratio = left / right
        r = np.mean(np.abs(values), axis=1) ** 2 / np.mean(values ** 2, axis=1)
        r_norm = r * (ratio ** 3 + 1) * (ratio + 1) / (ratio ** 2 + 1) ** 2
    alpha = _ALPHAS[np.argmin((_shape_ratios()[None, :] - r_norm[:, None]) ** 2, axis=1)]
    spread = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    alpha = np.where(np.isnan(r_norm), np.nan, alpha)
    return alpha, left * spread, right * spread


def _block_features(blocks):
    """The 18 statistics of each normalised block (n, h, w) -> (n, 18)."""
    from scipy.special import gamma
    n = len(blocks)
    alpha, left, right = _aggd(blocks.reshape(n, -1))
    features = [alpha, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):  # MATLAB circshift within the block
        products = blocks * np.roll(blocks, shift, axis=(1, 2))
        alpha, left, right = _aggd(products.reshape(n, -1))
        mean = (right - left) * gamma(2 / alpha) / gamma(1 / alpha)
        features += [alpha, mean, left, right]
    return np.stack(features, axis=1)


def _normalized(image, window):
    """Mean-subtracted, contrast-normalised luminance (I − μ) / (σ + 1), in single precision as MATLAB's.

    (In double precision baboon scores 5.72996 instead of MATLAB's 5.72957.)
    """
    image = image.astype(np.float32)
    mu = _filter(image, window)
    sigma = np.sqrt(np.abs(_filter(image * image, window) - mu * mu))
    return ((image - mu) / (sigma + 1)).astype(np.float64)


def _blocks(image, size):
    rows, cols = image.shape[0] // size, image.shape[1] // size
    image = image[:rows * size, :cols * size]
    return image.reshape(rows, size, cols, size).transpose(0, 2, 1, 3).reshape(-1, size, size)


def _luma(image):
    """The NIQE luminance of an image: MATLAB Y of RGB (gray as it is), rounded like an 8-bit image."""
    image = np.asarray(image, np.float64)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = rgb_to_y(image)
    return np.round(image.reshape(image.shape[:2]))


def niqe(image, shave=0):
    """The NIQE score of an H×W×3 RGB or H×W gray image in [0, 255], ``shave`` border pixels left out.

    The image (after the shave) must be at least 96×96: a smaller one has no block.
    """
    luma = _luma(image)
    if shave:
        luma = luma[shave:-shave, shave:-shave]
    rows, cols = luma.shape[0] // BLOCK, luma.shape[1] // BLOCK
    if rows < 1 or cols < 1:
        raise ValueError(f"NIQE needs at least {BLOCK}×{BLOCK} pixels, got {luma.shape[0]}×{luma.shape[1]}")
    luma = luma[:rows * BLOCK, :cols * BLOCK]
    window = _gaussian_window()
    features = []
    for size in (BLOCK, BLOCK // 2):
        features.append(_block_features(_blocks(_normalized(luma, window), size)))
        luma = imresize(luma / 255.0, 0.5) * 255.0
    features = np.concatenate(features, axis=1)
    mean = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    cov = np.cov(complete, rowvar=False) if len(complete) > 1 else np.zeros((features.shape[1],) * 2)
    pristine_mean, pristine_cov = pristine_model()
    difference = pristine_mean - mean
    distance = difference @ np.linalg.pinv((pristine_cov + cov) / 2) @ difference
    return float(math.sqrt(distance))
