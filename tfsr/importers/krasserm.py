"""Weights of krasserm/super-resolution (Keras 2 HDF5) as tfsr models.

That project's EDSR and WDSR models are Keras 2 functional models whose
convolutions are stored in model order, plain (``kernel``, ``bias``) or
wrapped by tensorflow-addons' ``WeightNormalization`` (``g``, ``kernel`` = v,
``bias``; kernel = g·v/‖v‖ over axes 0, 1, 2). The file is read with h5py:
no TensorFlow 2.3, no tensorflow-addons, no code from the file.

Its normalisation is ``(x - mean·255) / 127.5`` in and the inverse out. WDSR
in tfsr normalises the same way. EDSR in tfsr subtracts the mean only, so
the 1/127.5 is folded into the head convolution's kernel and the ×127.5
into the tail convolution's kernel and bias; everything in between is
linear or ReLU, so the imported model computes the same function.
"""
from dataclasses import dataclass

import h5py
import numpy as np

from tfsr.importers.common import WeightsError

_KRASSERM_STD = 127.5


@dataclass
class Conv:
    name: str
    kernel: np.ndarray  # HWIO, effective (weight norm applied)
    bias: np.ndarray
    v: np.ndarray = None  # weight-norm direction, when stored that way
    g: np.ndarray = None


def read_convs(path):
    """The convolutions of a Keras 2 ``.h5`` file, in model order."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise WeightsError(f"{path}: not an HDF5 file ({e})") from None
    with f:
        root = f.get("model_weights", f)
        if "layer_names" not in root.attrs:
            raise WeightsError(f"{path}: not a Keras 2 weights file (no layer_names)")
        convs = []
        for layer in (n.decode() if isinstance(n, bytes) else n for n in root.attrs["layer_names"]):
            names = [n.decode() if isinstance(n, bytes) else n for n in root[layer].attrs.get("weight_names", [])]
            weights = {n.split("/")[-1].split(":")[0]: np.asarray(root[layer][n]) for n in names}
            if "kernel" not in weights:
                continue
            kernel, bias = weights["kernel"], weights.get("bias")
            if kernel.ndim != 4:
                raise WeightsError(f"{path}: layer {layer} has a {kernel.ndim}-D kernel, not a Conv2D")
            conv = Conv("/".join(names[0].split("/")[:-1]) or layer, kernel, bias)
            if "g" in weights:
                conv.v, conv.g = kernel, weights["g"].reshape(-1)
                norm = np.sqrt(np.maximum((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2)), 1e-24))
                conv.kernel = (kernel * (conv.g / norm)).astype(np.float32)
            convs.append(conv)
    if not convs:
        raise WeightsError(f"{path}: no convolution weights found")
    return convs


def detect_family(convs):
    """``"edsr"`` or ``"wdsr"``, from the layer names and shapes."""
    if any("skip_scale" in c.name for c in convs) or any(c.kernel.shape[:3] == (5, 5, 3) for c in convs):
        return "wdsr"
    return "edsr"


def edsr_weights(convs, path):
    """(hyperparameters, scale, {tfsr layer name: [kernel, bias]}) for EDSR."""
    features = convs[0].kernel.shape[-1]
    up = [c for c in convs if c.kernel.shape[-1] in (4 * features, 9 * features)]
    scale = {(4,): 2, (9,): 3, (4, 4): 4, (4, 4, 4): 8}.get(tuple(c.kernel.shape[-1] // features for c in up))
    body = convs[1:len(convs) - len(up) - 1]
    if scale is None or len(body) % 2 != 1 or convs[-1].kernel.shape[-1] != 3:
        raise WeightsError(f"{path}: layers do not form an EDSR (head, residual blocks, upsampler, tail)")
    blocks = (len(body) - 1) // 2
    weights = {"head": [convs[0].kernel / _KRASSERM_STD, convs[0].bias]}
    for i in range(blocks):
        weights[f"body_block{i}_conv1"] = [body[2 * i].kernel, body[2 * i].bias]
        weights[f"body_block{i}_conv2"] = [body[2 * i + 1].kernel, body[2 * i + 1].bias]
    weights["body_end"] = [body[-1].kernel, body[-1].bias]
    for j, conv in enumerate(up):
        weights[f"upsample_{j}_conv"] = [conv.kernel, conv.bias]
    weights["tail"] = [convs[-1].kernel * _KRASSERM_STD, convs[-1].bias * _KRASSERM_STD]
    return dict(blocks=blocks, features=features), scale, weights


def wdsr_weights(convs, path):
    """(hyperparameters, block type, scale, {tfsr layer name: Conv}) for WDSR-A/B."""
    skip = [c for c in convs if "skip_scale" in c.name] or [c for c in convs if c.kernel.shape[:3] == (5, 5, 3)]
    if len(skip) != 1:
        raise WeightsError(f"{path}: no WDSR skip convolution (5x5 from RGB) found")
    skip = skip[0]
    rest = [c for c in convs if c is not skip]
    head, body, tail = rest[0], rest[1:-1], rest[-1]
    features = head.kernel.shape[-1]
    scale = round(np.sqrt(tail.kernel.shape[-1] / 3))
    block = "b" if body and body[0].kernel.shape[:2] == (1, 1) else "a"
    per_block = 3 if block == "b" else 2
    if 3 * scale * scale != tail.kernel.shape[-1] or len(body) % per_block:
        raise WeightsError(f"{path}: layers do not form a WDSR (head, blocks, main and skip convolutions)")
    blocks = len(body) // per_block
    names = ["expand", "low_rank", "reduce"] if block == "b" else ["expand", "reduce"]
    weights = {"head": head, "tail": tail, "skip": skip}
    for i in range(blocks):
        for k, name in enumerate(names):
            weights[f"body_block{i}_{name}"] = body[per_block * i + k]
    params = dict(blocks=blocks, features=features, expansion=body[0].kernel.shape[-1] // features)
    if block == "b":
        params["low_rank"] = body[1].kernel.shape[-1] / features
    return params, block, scale, weights
