"""SRVGG: a plain stack of 3×3 convolutions and PReLUs, the compact net of Real-ESRGAN.

What phones ship (Real-ESRGAN's ``SRVGGNetCompact``: realesr-general-x4v3 is
64 features and 32 convolutions, realesr-animevideov3 64 and 16). All
features stay in LR space; a last convolution to 3·s² channels and a pixel
shuffle give the residual, which is added to the nearest-neighbour upscaled
input (``base="nearest"``, Real-ESRGAN's; ``"bilinear"`` adds it to a smooth
upscale instead, TFLite's builtin RESIZE_BILINEAR; ``"learned"`` makes it a
5×5 convolution to 3·s² channels and a pixel shuffle, starting as nearest
upscaling: a linear path that can learn to low-pass the LR's noise, as
WDSR's skip does, where a fixed base leaves the residual to cancel the noise
pixel by pixel). It computes on [0, 1]
images, as Real-ESRGAN's does, so its weights read across unchanged
(`tfsr.importers.ncnn`). No skip connections, no normalisation: every layer
is a builtin TFLite op.

``activation="relu"`` trades Real-ESRGAN's PReLU for a ReLU, which TFLite
fuses into the convolution: on CPU the int8 file is then 4.6× faster at 64
features and 16 convolutions (31 against 142 ms on a 128² input, 2 threads,
Zen 4; LiteRT's int8 PReLU is a slow kernel of its own).
"""
import keras
import numpy as np

from tfsr.layers import BilinearUpscale, Denormalize, Normalize, PixelShuffle
from tfsr.models.common import conv

SCALES = (2, 3, 4)
ACTIVATIONS = ("prelu", "relu")
BASES = ("nearest", "bilinear", "learned")
_UNIT = (0.0, 0.0, 0.0)  # no mean: [0, 255] -> [0, 1] and back


def _prelu(x, name):
    """PReLU with one slope per channel, shared over H and W (PyTorch's ``nn.PReLU(F)``)."""
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2],
                              name=name)(x)


def _nearest_copies(kernel_shape):
    """A kernel whose s² groups of three output channels each copy the centre pixel: nearest upscaling."""
    size, _, channels, outputs = kernel_shape
    kernel = np.zeros(kernel_shape, "float32")
    kernel[size // 2, size // 2, np.arange(outputs) % channels, np.arange(outputs)] = 1.0
    return kernel


def srvgg(scale, features=64, convs=16, activation="prelu", conv_init="he", base="nearest", name=None):
    """SRVGG at ``scale``: ``convs`` 3×3 convolutions of ``features`` after the head, each with an activation,
    plus the ``base`` upscale of the input."""
    if scale not in SCALES:
        raise ValueError(f"SRVGG supports scales {SCALES}, got {scale}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"SRVGG activation is one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    if base not in BASES:
        raise ValueError(f"SRVGG base is one of {', '.join(BASES)}, got {base!r}")

    def conv_act(x, name, prelu_name):
        if activation == "relu":
            return conv(x, features, 3, name, "relu", conv_init=conv_init)
        return _prelu(conv(x, features, 3, name, conv_init=conv_init), prelu_name)

    inputs = keras.Input((None, None, 3), name="lr")
    x = Normalize(255.0, _UNIT, name="normalize")(inputs)
    m = conv_act(x, "head", "head_prelu")
    for i in range(convs):
        m = conv_act(m, f"body_conv{i}", f"body_prelu{i}")
    tail = keras.layers.Conv2D(3 * scale * scale, 3, padding="same", name="tail", kernel_initializer="zeros")
    m = tail(m)  # starts at zero: the network starts as its base upscale, not as noise on it
    m = PixelShuffle(scale, name="tail_shuffle")(m)
    if base == "nearest":
        copies = keras.layers.Concatenate(name="base_copies")([x] * (scale * scale))
        upscaled = PixelShuffle(scale, name="base")(copies)  # s² copies shuffled: two builtin ops
    elif base == "bilinear":
        upscaled = BilinearUpscale(scale, name="base")(x)
    else:
        base_conv = keras.layers.Conv2D(3 * scale * scale, 5, padding="same", name="skip")  # WDSR's name: exports fold it alike
        copies = base_conv(x)
        base_conv.kernel.assign(_nearest_copies(base_conv.kernel.shape))
        upscaled = PixelShuffle(scale, name="base")(copies)
    x = keras.layers.Add(name="add_base")([m, upscaled])
    outputs = Denormalize(255.0, _UNIT, name="denormalize", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"srvgg_x{scale}")
