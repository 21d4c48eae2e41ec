"""Network interpolation (ESRGAN, Wang et al. 2018, §3.4): one model whose weights blend two.

A GAN generator fine-tuned from an L1 model keeps its architecture and stays
near its weights, so ``weight * gan + (1 - weight) * l1``, variable by
variable, moves smoothly between the GAN's texture and the L1 model's
fidelity: no retraining, and the blend costs nothing more at run time.
"""
import keras
import numpy as np

from tfsr.errors import ModelError


def interpolate(model, other, weight):
    """A copy of ``model`` whose every variable is ``weight * model's + (1 - weight) * other's``.

    The two must be the same network (variable paths and shapes); weight 1
    gives ``model``, 0 gives ``other``'s weights.
    """
    if not 0.0 <= weight <= 1.0:
        raise ModelError(f"the interpolation weight must be in [0, 1], got {weight}")
    mine = {v.path: v for v in model.weights}
    theirs = {v.path: v for v in other.weights}
    different = sorted(p for p in mine.keys() | theirs.keys()
                       if p not in mine or p not in theirs or tuple(mine[p].shape) != tuple(theirs[p].shape))
    if different:
        raise ModelError(f"not the same network ({len(different)} variables differ, e.g. {different[0]})")
    blend = keras.models.clone_model(model)
    blend.set_weights([_mix(v.numpy(), theirs[v.path].numpy(), weight) for v in model.weights])
    return blend


def _mix(a, b, weight):
    return (weight * a + (1.0 - weight) * b).astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else a
