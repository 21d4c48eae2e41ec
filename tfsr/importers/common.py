"""What the importers share: the error type, PyTorch-to-Keras layouts, assigning weights by layer name."""
import numpy as np

from tfsr.layers import WeightNormalization, walk_layers


class WeightsError(ValueError):
    """A weights file that does not fit its expected format; the message names the file."""


def to_hwio(kernel):
    """A PyTorch (and ncnn) OIHW kernel in Keras' HWIO layout."""
    return np.ascontiguousarray(np.transpose(kernel, (2, 3, 1, 0)))


def shuffle_permutation(channels, r):
    """Index into PyTorch's channels for each ``depth_to_space`` channel.

    PyTorch's ``PixelShuffle`` (and ncnn's, mode 0) reads a convolution's
    channels as (C, r, r), ``depth_to_space`` as (r, r, C).
    """
    c_out = channels // (r * r)
    return np.array([c * r * r + i * r + j for i in range(r) for j in range(r) for c in range(c_out)])


def assign(model, name, kernel, bias, v=None, g=None):
    """Set layer ``name``'s convolution; weight-normalised layers get ``v``/``g``
    (or ``v = kernel``, ``g = ‖kernel‖``, which gives the same effective kernel)."""
    layer = {layer.name: layer for layer in walk_layers(model)}[name]
    conv = layer.layer if isinstance(layer, WeightNormalization) else layer
    if tuple(conv.kernel.shape) != kernel.shape or tuple(conv.bias.shape) != bias.shape:
        raise WeightsError(f"layer {name}: the file has {kernel.shape} + {bias.shape}, the model needs "
                           f"{tuple(conv.kernel.shape)} + {tuple(conv.bias.shape)}")
    conv.bias.assign(bias)
    if isinstance(layer, WeightNormalization) and v is None:
        layer.set_effective_kernel(kernel)
    elif isinstance(layer, WeightNormalization):
        conv.kernel.assign(v)
        layer.g.assign(g.astype(np.float32))
    else:
        conv.kernel.assign(kernel)
