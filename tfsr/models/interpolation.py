"""A model between two: network interpolation (ESRGAN, Wang et al. 2018, §3.4) and output blending.

A GAN generator fine-tuned from an L1 model keeps its architecture and stays
near its weights, so ``weight * gan + (1 - weight) * l1``, variable by
variable, moves smoothly between the GAN's texture and the L1 model's
fidelity: no retraining, and the blend costs nothing more at run time.
`blend_outputs` blends the two networks' images instead, as one network
as wide as the two together.
"""
import keras
import numpy as np
from keras import ops

from tfsr.errors import ModelError
from tfsr.layers import WeightNormalization, walk_layers, weight_norm_layers


def blend(model, other, weight, space="weights"):
    """``weight * model + (1 - weight) * other`` as one network, blending their weights (`interpolate`) or
    their images (`blend_outputs`): ``space`` is ``"weights"`` or ``"outputs"``."""
    if space not in SPACES:
        raise ValueError(f"unknown blend space {space!r} ({', '.join(SPACES)})")
    return (blend_outputs if space == "outputs" else interpolate)(model, other, weight)


SPACES = ("weights", "outputs")


def interpolate(model, other, weight):
    """A copy of ``model`` whose every variable is ``weight * model's + (1 - weight) * other's``.

    The two must be the same network (variable paths and shapes); weight 1
    gives ``model``, 0 gives ``other``'s weights.
    """
    theirs = _blendable(model, other, weight)
    blended = keras.models.clone_model(model)
    blended.set_weights([_mix(v.numpy(), theirs[v.path].numpy(), weight) for v in model.weights])
    return blended


def _check_weight(weight):
    if not 0.0 <= weight <= 1.0:
        raise ModelError(f"the blend weight must be in [0, 1], got {weight}")


def _blendable(model, other, weight):
    """{variable path: variable} of ``other``, which must have ``model``'s variable paths and shapes."""
    _check_weight(weight)
    mine = {v.path: v for v in model.weights}
    theirs = {v.path: v for v in other.weights}
    different = sorted(p for p in mine.keys() | theirs.keys()
                       if p not in mine or p not in theirs or tuple(mine[p].shape) != tuple(theirs[p].shape))
    if different:
        raise ModelError(f"not the same network ({len(different)} variables differ, e.g. {different[0]})")
    return theirs


def _mix(a, b, weight):
    return (weight * a + (1.0 - weight) * b).astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else a


def blend_outputs(model, other, weight):
    """One WDSR network, as wide as the two together, that computes ``weight * model(x) + (1 - weight) * other(x)``.

    Blending the two networks' images keeps what each draws where blending
    their weights smears it (docs/history/2026-11-22_to_12-05-training-log.md §7); merged this way the blend
    is a single network, so it exports, quantizes and loads as any other.
    Every convolution but the last holds the two networks side by side
    (block-diagonal: each half reads only its own channels); WDSR's output is
    linear in its ``tail`` and ``skip`` convolutions, whose kernels are
    blended. Two WDSR-B of 32 features make one of 64 (1.21 M parameters,
    half of them zero); a blend of 64 and a WDSR-B of 32, one of 96. The two
    must be WDSR networks of the same layers (weight-normalised convolutions,
    ``tail`` and ``skip`` last), of any widths.
    """
    _check_weight(weight)
    mine, theirs = weight_norm_layers(model), weight_norm_layers(other)
    for network, convolutions in ((model, mine), (other, theirs)):
        plain = [layer for layer in walk_layers(network) if layer.weights and not isinstance(layer, WeightNormalization)]
        if plain or not {"head", "tail", "skip"} <= {layer.name for layer in convolutions}:
            raise ModelError(f"{network.name}: output blending merges WDSR networks (weight-normalised "
                             f"convolutions ending in 'tail' and 'skip')")
    if [layer.name for layer in mine] != [layer.name for layer in theirs] or not all(map(_mergeable, mine, theirs)):
        raise ModelError(f"{model.name} and {other.name}: not the same network (their convolutions differ)")
    others_filters = {b.name: b.layer.filters for b in theirs}

    def widened(layer):
        config = layer.get_config()
        if isinstance(layer, WeightNormalization):
            config["layer"].pop("build_config", None)  # built anew, on the wider input
            if layer.name not in _BLENDED:
                config["layer"]["config"]["filters"] += others_filters[layer.name]
        return layer.__class__.from_config(config)

    wide = keras.models.clone_model(model, clone_function=widened)
    for target, a, b in zip(weight_norm_layers(wide), mine, theirs):
        kernel, bias = _merged(a, b, weight)
        target.set_effective_kernel(kernel)
        target.layer.bias.assign(bias)
    _check_blend(wide, model, other, weight)
    return wide


_BLENDED = ("tail", "skip")  # WDSR's output is their sum: these are blended, every other conv side by side


def _mergeable(a, b):
    """Whether two convolutions of the same name merge: the same window, and where blended the same output
    (the skip convolution reads the image both read: all of its shape)."""
    ka, kb = tuple(a.layer.kernel.shape), tuple(b.layer.kernel.shape)
    if a.name == "skip":
        return ka == kb
    return ka[:2] == kb[:2] and (a.name != "tail" or ka[3] == kb[3])


def _merged(a, b, weight):
    """(kernel, bias) of the wide network's layer made of ``a`` and ``b``."""
    ka, kb = (ops.convert_to_numpy(x.effective_kernel()) for x in (a, b))
    ba, bb = (ops.convert_to_numpy(x.layer.bias) for x in (a, b))
    if a.name == "tail":  # reads both halves; its output is the blend
        return np.concatenate([weight * ka, (1 - weight) * kb], axis=2), _mix(ba, bb, weight)
    if a.name == "skip":  # reads the input both halves share
        return _mix(ka, kb, weight), _mix(ba, bb, weight)
    if a.name == "head":  # reads the input, writes both halves
        return np.concatenate([ka, kb], axis=3), np.concatenate([ba, bb])
    kernel = np.zeros((*ka.shape[:2], ka.shape[2] + kb.shape[2], ka.shape[3] + kb.shape[3]), ka.dtype)
    kernel[:, :, :ka.shape[2], :ka.shape[3]] = ka
    kernel[:, :, ka.shape[2]:, ka.shape[3]:] = kb
    return kernel, np.concatenate([ba, bb])


def _check_blend(wide, model, other, weight):
    probe = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype(np.float32)
    expected = weight * np.asarray(model(probe)) + (1 - weight) * np.asarray(other(probe))
    gap = float(np.max(np.abs(np.asarray(wide(probe)) - expected)))
    if gap > 0.01:
        raise ModelError(f"{model.name}: the merged network is {gap:.3g} grey levels from the blend of the two "
                         f"(not a WDSR network?)")
