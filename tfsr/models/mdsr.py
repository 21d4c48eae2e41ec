"""MDSR (Lim et al., 2017): one network for x2, x3 and x4.

The head, the residual body and the tail conv are shared; each scale has
its own pre-processing (two 5×5 residual blocks) and upsampler. The model
has one output per scale, named ``x2``, ``x3``, ``x4``; `select_scale`
gives the single-scale model that shares the same layers and weights.
"""
import keras

from tfsr.layers import Denormalize, Normalize
from tfsr.models.common import conv, conv_layer, upsampler
from tfsr.models.edsr import res_block, residual_body

SCALES = (2, 3, 4)


def mdsr(blocks=16, features=64, scales=SCALES, conv_init="torch", name="mdsr"):
    """Multi-scale MDSR with an output per scale (``conv_init`` as in `tfsr.models.edsr.edsr`)."""
    unknown = set(scales) - set(SCALES)
    if unknown:
        raise ValueError(f"MDSR supports scales {SCALES}, got {sorted(unknown)}")
    inputs = keras.Input((None, None, 3), name="lr")
    x = Normalize(name="normalize")(inputs)
    x = conv(x, features, 3, "head", conv_init=conv_init)

    body_in = keras.Input((None, None, features))
    body = keras.Model(body_in, residual_body(body_in, features, blocks, 1.0, conv_init=conv_init), name="body")
    tail = conv_layer(3, 3, features, "tail", conv_init=conv_init)

    outputs = {}
    for s in scales:
        p = res_block(x, features, 1.0, name=f"pre_x{s}_block0", kernel_size=5, conv_init=conv_init)
        p = res_block(p, features, 1.0, name=f"pre_x{s}_block1", kernel_size=5, conv_init=conv_init)
        u = upsampler(body(p), s, features, name=f"upsample_x{s}", conv_init=conv_init)
        outputs[f"x{s}"] = Denormalize(name=f"x{s}", dtype="float32")(tail(u))
    return keras.Model(inputs, outputs, name=name)


def branch_scales(model):
    """The scales a multi-scale model has outputs for."""
    names = {layer.name for layer in model.layers}
    return [s for s in SCALES if f"x{s}" in names]


def select_scale(model, scale):
    """The x``scale`` branch of a multi-scale model, sharing its weights."""
    if scale not in branch_scales(model):
        have = ", ".join(f"x{s}" for s in branch_scales(model))
        raise ValueError(f"{model.name} has no x{scale} branch (it has {have or 'none'})")
    output = model.get_layer(f"x{scale}").output
    return keras.Model(model.input, output, name=f"{model.name}_x{scale}")
