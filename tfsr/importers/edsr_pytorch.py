"""EDSR-PyTorch state dicts (EDSR and MDSR, incl. the official releases) as tfsr weights.

Kernels go from PyTorch's OIHW to Keras' HWIO. PyTorch's ``PixelShuffle``
reads the channels of the conv before it as (C, r, r), ``depth_to_space`` as
(r, r, C); the output channels of every upsampling conv are permuted so the
imported model computes exactly the same function. The mean shift is read
from ``sub_mean`` (``rgb_range`` 255 or 1 is detected; for 1 the scale is
folded into the head and tail convolutions).
"""
import re

import numpy as np

from tfsr.importers.common import WeightsError, shuffle_permutation, to_hwio


def _conv(state, prefix, permute_for=None):
    kernel, bias = to_hwio(state[prefix + ".weight"]), state[prefix + ".bias"]
    if permute_for:
        perm = shuffle_permutation(kernel.shape[-1], permute_for)
        kernel, bias = kernel[..., perm], bias[perm]
    return kernel, bias


def _blocks(state, prefix):
    return len({m.group(1) for k in state if (m := re.match(re.escape(prefix) + r"\.(\d+)\.body\.0\.weight$", k))})


def _upsampler(state, prefix, features, path):
    """[(kernel, bias)], scale of an EDSR ``Upsampler`` at ``prefix``."""
    stages, i = [], 0
    while f"{prefix}.{i}.weight" in state:
        r = {4: 2, 9: 3}.get(state[f"{prefix}.{i}.weight"].shape[0] // features)
        if r is None:
            raise WeightsError(f"{path}: {prefix}.{i} is not an upsampling conv")
        stages.append((*_conv(state, f"{prefix}.{i}", permute_for=r), r))
        i += 2  # conv, PixelShuffle
    scale = int(np.prod([r for *_, r in stages])) if stages else None
    return [(k, b) for k, b, _ in stages], scale


def mean_shift(state, path):
    """(mean in [0, 1] per channel, rgb_range) from ``sub_mean``."""
    if "sub_mean.bias" not in state:
        return None, 255.0
    weight = state["sub_mean.weight"].reshape(3, 3)
    if not np.allclose(weight, np.diag(np.diag(weight))) or not np.allclose(np.diag(weight), 1):
        raise WeightsError(f"{path}: sub_mean divides by a std other than 1; tfsr's EDSR does not")
    bias = -state["sub_mean.bias"].astype(np.float64)
    rgb_range = 1.0 if np.abs(bias).max() < 2 else 255.0
    return tuple(bias / rgb_range), rgb_range


def edsr_weights(state, path):
    """(family, hyperparameters, scales, {tfsr layer name: (kernel, bias)}, mean)."""
    if "head.0.weight" not in state:
        raise WeightsError(f"{path}: not an EDSR/MDSR state dict (no head.0.weight)")
    features = state["head.0.weight"].shape[0]
    mean, rgb_range = mean_shift(state, path)
    weights = {"head": _conv(state, "head.0")}
    multiscale = any(k.startswith("pre_process.") for k in state)
    blocks = _blocks(state, "body")
    for i in range(blocks):
        weights[f"body_block{i}_conv1"] = _conv(state, f"body.{i}.body.0")
        weights[f"body_block{i}_conv2"] = _conv(state, f"body.{i}.body.2")
    weights["body_end"] = _conv(state, f"body.{blocks}")
    if multiscale:
        scales = []
        k = 0
        while f"upsample.{k}.0.weight" in state:
            stages, scale = _upsampler(state, f"upsample.{k}", features, path)
            scales.append(scale)
            for j, conv in enumerate(stages):
                weights[f"upsample_x{scale}_{j}_conv"] = conv
            for b in range(2):
                weights[f"pre_x{scale}_block{b}_conv1"] = _conv(state, f"pre_process.{k}.{b}.body.0")
                weights[f"pre_x{scale}_block{b}_conv2"] = _conv(state, f"pre_process.{k}.{b}.body.2")
            k += 1
        weights["tail"] = _conv(state, "tail.0")
        family = "mdsr"
    else:
        stages, scale = _upsampler(state, "tail.0", features, path)
        for j, conv in enumerate(stages):
            weights[f"upsample_{j}_conv"] = conv
        weights["tail"] = _conv(state, "tail.1")
        scales, family = [scale], "edsr"
    if rgb_range != 255.0:  # the model works on [0, 1]; tfsr's on [0, 255]
        k, b = weights["head"]
        weights["head"] = (k / 255.0, b)
        k, b = weights["tail"]
        weights["tail"] = (k * 255.0, b * 255.0)
    return family, dict(blocks=blocks, features=features), scales, weights, mean
