"""EDSR (Lim et al., 2017): Enhanced Deep Residual Networks for SISR."""
import keras

from tfsr.layers import Denormalize, Normalize, Scale
from tfsr.models.common import conv, upsampler

SCALES = (2, 3, 4, 8)


def res_block(x, features, res_scale, name, kernel_size=3):
    """conv-ReLU-conv, scaled by ``res_scale`` and added to the input."""
    r = conv(features, kernel_size, f"{name}_conv1", activation="relu")(x)
    r = conv(features, kernel_size, f"{name}_conv2")(r)
    if res_scale != 1:
        r = Scale(res_scale, name=f"{name}_scale")(r)
    return keras.layers.Add(name=f"{name}_add")([x, r])


def residual_body(x, features, blocks, res_scale, name="body"):
    """``blocks`` residual blocks and a conv, plus the global skip."""
    r = x
    for i in range(blocks):
        r = res_block(r, features, res_scale, name=f"{name}_block{i}")
    r = conv(features, 3, f"{name}_end")(r)
    return keras.layers.Add(name=f"{name}_skip")([x, r])


def edsr(scale, blocks=16, features=64, res_scale=1.0, name=None):
    """EDSR at one scale. Input and output are RGB in [0, 255], any H×W."""
    if scale not in SCALES:
        raise ValueError(f"EDSR supports scales {SCALES}, got {scale}")
    inputs = keras.Input((None, None, 3), name="lr")
    x = Normalize(name="normalize")(inputs)
    x = conv(features, 3, "head")(x)
    x = residual_body(x, features, blocks, res_scale)
    x = upsampler(x, scale, features)
    x = conv(3, 3, "tail")(x)
    outputs = Denormalize(name="denormalize", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"edsr_x{scale}")
