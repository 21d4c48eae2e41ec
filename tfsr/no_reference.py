"""No-reference scores of an SR image, for photos with no HR: NIQE and the checkerboard peak (NumPy only).

Kept apart from `tfsr.evaluation` (which imports TensorFlow with the Keras
metrics) so that ``tfsr-upscale --compare`` scores its pages without it.
"""

import math

from tfsr.niqe import niqe
from tfsr.spectrum import grid_peak


def no_reference_scores(sr, scale, metrics):
    """{metric: value} of the no-reference ``metrics`` of an SR image (NIQE leaves out a ``scale`` border).

    An image too small for a metric (NIQE: 96 px after the border; grid: 64 px) gets NaN, which the means skip.
    """
    scores = {}
    for name, score in (("niqe", lambda: niqe(sr, shave=scale)), ("grid", lambda: grid_peak(sr, scale))):
        if name in metrics:
            try:
                scores[name] = score()
            except ValueError:
                scores[name] = float("nan")
    return scores


def scored_mean(values):
    """The mean of the scores that are not NaN (images too small for the metric); NaN if none is."""
    values = [float(v) for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else float("nan")
