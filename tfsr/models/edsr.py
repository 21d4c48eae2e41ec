"""EDSR (Lim et al., 2017): Enhanced Deep Residual Networks for SISR."""
import keras

from tfsr.layers import Denormalize, Normalize, Scale
from tfsr.models.common import conv, upsampler

SCALES = (2, 3, 4, 8)


def res_block(x, features, res_scale, name, kernel_size=3, conv_init="torch"):
    """conv-ReLU-conv, scaled by ``res_scale`` and added to the input."""
    r = conv(x, features, kernel_size, f"{name}_conv1", activation="relu", conv_init=conv_init)
    r = conv(r, features, kernel_size, f"{name}_conv2", conv_init=conv_init)
    if res_scale != 1:
        r = Scale(res_scale, name=f"{name}_scale")(r)
    return keras.layers.Add(name=f"{name}_add")([x, r])


def residual_body(x, features, blocks, res_scale, name="body", conv_init="torch"):
    """``blocks`` residual blocks and a conv, plus the global skip."""
    r = x
    for i in range(blocks):
        r = res_block(r, features, res_scale, name=f"{name}_block{i}", conv_init=conv_init)
    r = conv(r, features, 3, f"{name}_end", conv_init=conv_init)
    return keras.layers.Add(name=f"{name}_skip")([x, r])


def edsr(scale, blocks=16, features=64, res_scale=1.0, conv_init="torch", name=None):
    """EDSR at one scale. Input and output are RGB in [0, 255], any H×W.

    ``conv_init``: ``"torch"`` (the EDSR code's PyTorch initialisation) or
    ``"glorot"`` (Keras'); see `tfsr.models.common.initializers`.
    """
    if scale not in SCALES:
        raise ValueError(f"EDSR supports scales {SCALES}, got {scale}")
    inputs = keras.Input((None, None, 3), name="lr")
    x = Normalize(name="normalize")(inputs)
    x = conv(x, features, 3, "head", conv_init=conv_init)
    x = residual_body(x, features, blocks, res_scale, conv_init=conv_init)
    x = upsampler(x, scale, features, conv_init=conv_init)
    x = conv(x, 3, 3, "tail", conv_init=conv_init)
    outputs = Denormalize(name="denormalize", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"edsr_x{scale}")
