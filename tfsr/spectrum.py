"""Periodic artifacts: the checkerboard a pixel shuffle can print, measured in the image's spectrum.

A network that makes each s×s output block from s² channels (pixel shuffle,
transposed convolutions) can give each position in the block its own
offset. The pattern repeats every s pixels, so its energy sits at exactly
k/s cycles per pixel (k = 1 … s−1, on either axis), where a natural image,
a bicubic upscale (its kernel is zero there) or a good SR output have a
smooth spectrum. `grid_peak` is how far the power at those frequencies
rises above the power around them, in dB: near 0-5 dB for natural images,
10 dB and more where a checkerboard is visible.
"""
import numpy as np

from tfsr.color import luma

TILE = 64


def _power(luma_image, tile=TILE):
    """Mean power spectrum of Hann-windowed, mean-removed tiles (Welch): (tile, tile)."""
    h, w = (n // tile * tile for n in luma_image.shape)
    tiles = luma_image[:h, :w].reshape(h // tile, tile, w // tile, tile).transpose(0, 2, 1, 3).reshape(-1, tile, tile)
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    window = np.outer(np.hanning(tile), np.hanning(tile))
    return np.mean(np.abs(np.fft.fft2(tiles * window)) ** 2, axis=0)


def grid_peaks(image, period, tile=TILE):
    """{(ky, kx): dB} for each frequency (ky/period, kx/period) but 0: its power over the median around it.

    ``image``: H×W×3 RGB or H×W gray in [0, 255], at least ``tile`` pixels a side.
    "Around" is the 7×7 bins centred on it less the centre 3×3 (the Hann window spreads a peak over
    ±1 bin).
    """
    image = np.asarray(image, np.float64)
    gray = luma(image) if image.ndim == 3 and image.shape[-1] == 3 else image.reshape(image.shape[:2])
    if min(gray.shape) < tile:
        raise ValueError(f"the periodic-artifact score needs at least {tile}×{tile} pixels, got {gray.shape}")
    if tile % period:
        raise ValueError(f"the tile ({tile}) must be a multiple of the period ({period})")
    power = _power(gray, tile)
    step = tile // period
    offsets = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if max(abs(dy), abs(dx)) > 1]
    peaks = {}
    for ky in range(period):
        for kx in range(period):
            if ky == kx == 0:
                continue
            y, x = ky * step, kx * step
            around = np.median([power[(y + dy) % tile, (x + dx) % tile] for dy, dx in offsets])
            peaks[(ky, kx)] = float(10 * np.log10(power[y, x] / max(around, 1e-12)))
    return peaks


def grid_peak(image, period, tile=TILE):
    """The strongest of `grid_peaks`, in dB: one number for a checkerboard at ``period`` pixels."""
    return max(grid_peaks(image, period, tile).values())
