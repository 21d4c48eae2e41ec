"""Import weights trained elsewhere: krasserm/super-resolution (.h5), EDSR-PyTorch (.pt), Real-ESRGAN's
compact net in ncnn files (.param + .bin).

    model = import_weights("wdsr-b-16-x4.h5", "krasserm")
    model.save("wdsr_b_x4.keras")

Architecture hyperparameters are read from the file's shapes; the ones a
caller passes are checked against them.
"""
from pathlib import Path

import numpy as np

from tfsr.importers import edsr_pytorch, krasserm, ncnn
from tfsr.importers.common import WeightsError, assign
from tfsr.importers.torch_pickle import load_state_dict
from tfsr.layers import Normalize, fold_weight_norm
from tfsr.models import build

FORMATS = ("krasserm", "edsr-pytorch", "ncnn")
_FAMILY_ARCHS = {"edsr": ("edsr_baseline", "edsr"), "mdsr": ("mdsr_baseline", "mdsr"),
                 "wdsr_a": ("wdsr_a",), "wdsr_b": ("wdsr_b",), "srvgg": ("srvgg",)}


def _check(path, inferred, given):
    """Flags given by the user must agree with what the file's shapes say."""
    for key, value in given.items():
        if value is None or key not in inferred:
            continue
        if key == "low_rank":  # the file only fixes int(features · low_rank)
            width = inferred["features"]
            same = int(width * value) == round(width * inferred[key])
        else:
            same = inferred[key] == value
        if not same:
            raise WeightsError(f"{path}: the file has {key}={inferred[key]:g}, not {value}")


def _resolve_arch(path, family, arch):
    choices = _FAMILY_ARCHS[family]
    if arch is None:
        return choices[0]
    if arch not in choices:
        raise WeightsError(f"{path}: holds a {family.replace('_', '-').upper()} model, not {arch}")
    return arch


def import_weights(src, fmt, arch=None, scale=None, fold=False, res_scale=None, **expected):
    """A tfsr Keras model carrying the weights of ``src``.

    Args:
        fmt: ``"krasserm"``, ``"edsr-pytorch"`` or ``"ncnn"`` (``src`` is the
            ``.param`` file, its ``.bin`` beside it).
        arch, scale, expected (blocks, features, expansion, low_rank): checks
            against what the file holds.
        fold: WDSR only, return plain convolutions instead of weight norm.
        res_scale: residual scaling the weights were trained with (not stored
            in the files). Default: 1, or 0.1 for the official EDSR
            (32 blocks, 256 features).
    """
    path = Path(src)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    if fmt == "krasserm":
        model, inferred, scales = _krasserm(path, arch, res_scale)
    elif fmt == "edsr-pytorch":
        model, inferred, scales = _edsr_pytorch(path, arch, res_scale)
    elif fmt == "ncnn":
        model, inferred, scales = _ncnn(path, arch)
    else:
        raise ValueError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")
    _check(path, inferred, expected)
    if scale is not None and scale not in scales:
        raise WeightsError(f"{path}: the file's model upscales x{', x'.join(map(str, scales))}, not x{scale}")
    probe = model(np.zeros((1, 8, 8, 3), np.float32))
    for value in (probe.values() if isinstance(probe, dict) else [probe]):
        if not np.isfinite(np.asarray(value)).all():
            raise WeightsError(f"{path}: the imported model gives non-finite outputs")
    return fold_weight_norm(model) if fold else model


def _krasserm(path, arch, res_scale):
    convs = krasserm.read_convs(path)
    if krasserm.detect_family(convs) == "edsr":
        params, scale, weights = krasserm.edsr_weights(convs, path)
        arch = _resolve_arch(path, "edsr", arch)
        model = build(arch, scale, **params, res_scale=res_scale or 1.0)
        for name, (kernel, bias) in weights.items():
            assign(model, name, kernel, bias)
        return model, params, [scale]
    params, block, scale, weights = krasserm.wdsr_weights(convs, path)
    arch = _resolve_arch(path, f"wdsr_{block}", arch)
    model = build(arch, scale, **params, res_scale=res_scale)
    for name, conv in weights.items():
        assign(model, name, conv.kernel, conv.bias, conv.v, conv.g)
    return model, params, [scale]


def _edsr_pytorch(path, arch, res_scale):
    try:
        state = load_state_dict(path)
    except ValueError as e:  # not a checkpoint, or an unsafe one (UnsafeCheckpointError)
        raise WeightsError(str(e)) from None
    family, params, scales, weights, mean = edsr_pytorch.edsr_weights(state, path)
    arch = _resolve_arch(path, family, arch)
    if family == "mdsr":
        model = build(arch, None, **params)
    else:
        official = params["blocks"] == 32 and params["features"] == 256
        model = build(arch, scales[0], **params, res_scale=res_scale or (0.1 if official else 1.0))
    if mean is not None:  # the file's own mean shift (Denormalize is a Normalize)
        for layer in model.layers:
            if isinstance(layer, Normalize):
                layer.mean = tuple(float(m) for m in mean)
    for name, (kernel, bias) in weights.items():
        assign(model, name, kernel, bias)
    return model, params, scales


def _ncnn(path, arch):
    params, scale, weights = ncnn.srvgg_weights(path)
    model = build(_resolve_arch(path, "srvgg", arch), scale, **params)
    layers = {layer.name: layer for layer in model.layers}
    for name, value in weights.items():
        if isinstance(value, tuple):
            assign(model, name, *value)
        else:
            layers[name].set_weights([value.reshape(layers[name].get_weights()[0].shape)])
    return model, params, [scale]


__all__ = ["FORMATS", "WeightsError", "import_weights"]
