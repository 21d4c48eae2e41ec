"""MATLAB-compatible bicubic ``imresize``.

Published LR images and PSNR tables come from MATLAB's
``imresize(img, scale, 'bicubic')``: Keys cubic (a = -0.5), the kernel
widened by 1/scale when shrinking (antialiasing), symmetric padding, one
pass per dimension. For uint8 input MATLAB rounds the image back to uint8
(halves away from zero) after each pass; this module does the same and
reproduces MATLAB's LR files bit for bit. PIL and ``tf.image.resize`` do not.
"""
import math

import numpy as np

from tfsr.color import as_uint8


def _cubic(x):
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _contributions(in_length, out_length, scale):
    """Weights (out, taps) and source indices (out, taps) for one dimension.

    A line-by-line port of MATLAB's ``contributions`` with antialiasing.
    """
    kernel_width = 4.0
    if scale < 1:
        kernel = lambda x: scale * _cubic(scale * x)
        kernel_width /= scale
    else:
        kernel = _cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    used = np.any(weights != 0, axis=0)
    return weights[:, used], indices[:, used]


def _resize_axis(image, axis, out_length, scale, round_to_uint8):
    weights, indices = _contributions(image.shape[axis], out_length, scale)
    source = np.moveaxis(image, axis, 0).astype(np.float64)
    out = np.zeros((out_length,) + source.shape[1:], np.float64)
    extra = (slice(None),) + (None,) * (source.ndim - 1)
    for k in range(weights.shape[1]):  # accumulate tap by tap, as MATLAB's mex does
        out += weights[:, k][extra] * source[indices[:, k]]
    if round_to_uint8:
        out = as_uint8(out)
    return np.moveaxis(out, 0, axis)


def imresize(image, scale=None, output_shape=None):
    """Resize an H×W or H×W×C image like MATLAB's ``imresize(..., 'bicubic')``.

    Args:
        image: uint8 (result is uint8, rounded after each pass like MATLAB)
            or float (result is float64, unrounded).
        scale: a single factor, e.g. ``1/4`` to make x4 LR, ``4`` to upscale.
        output_shape: ``(height, width)`` instead of ``scale``.
    """
    image = np.asarray(image)
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    in_shape = image.shape[:2]
    if scale is not None:
        scales = (float(scale), float(scale))
        output_shape = tuple(math.ceil(scale * n) for n in in_shape)
    else:
        scales = tuple(o / i for o, i in zip(output_shape, in_shape))
    is_uint8 = image.dtype == np.uint8
    out = image
    for axis in sorted((0, 1), key=lambda a: scales[a]):  # MATLAB: strongest reduction first
        out = _resize_axis(out, axis, output_shape[axis], scales[axis], is_uint8)
    return out
