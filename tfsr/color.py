"""Pixel values as MATLAB and image files have them: BT.601 luma (``rgb2ycbcr``) and uint8 rounding (NumPy only)."""
import numpy as np

Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
GRAY_WEIGHTS = Y_WEIGHTS * (255.0 / 219.0)  # the same luma, on a 0-255 scale


def rgb_to_y(image):
    """MATLAB ``rgb2ycbcr`` luma for RGB in [0, 255], float64 and unrounded."""
    return 16.0 + np.asarray(image, np.float64) @ Y_WEIGHTS


def luma(image):
    """BT.601 luma of RGB in [0, 255] on the same 0-255 scale (gray for R = G = B)."""
    return np.asarray(image, np.float64) @ GRAY_WEIGHTS


def as_uint8(image):
    """An SR image as it is saved and scored: rounded half up, clipped to uint8."""
    return np.clip(np.floor(np.asarray(image, np.float64) + 0.5), 0, 255).astype(np.uint8)
