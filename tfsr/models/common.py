"""Building blocks shared by the model families."""
import math

import keras

from tfsr.layers import PixelShuffle, WeightNormalization

CONV_INITS = ("torch", "glorot", "he")


def initializers(conv_init, fan_in):
    """(kernel, bias) initializers of a convolution with ``fan_in`` = kh·kw·c_in.

    ``"torch"`` is PyTorch's ``Conv2d`` default, which the EDSR and WDSR
    reference code trains with: kernel and bias uniform in ±1/√fan_in.
    ``"glorot"`` is Keras' default: glorot-uniform kernel, zero bias.
    ``"he"`` is He-normal (variance 2/fan_in), zero bias: it keeps the
    signal's size through a deep plain stack of ReLU/PReLU convolutions
    (SRVGG). With ``"torch"`` a 17-convolution SRVGG's last activation
    varies with the image 1e-7 times as much as its first: it starts, and
    in 600 steps of training stayed, blind to its input.
    """
    if conv_init == "torch":
        bound = 1.0 / math.sqrt(fan_in)
        return (keras.initializers.RandomUniform(-bound, bound),
                keras.initializers.RandomUniform(-bound, bound))
    if conv_init == "glorot":
        return "glorot_uniform", "zeros"
    if conv_init == "he":
        return "he_normal", "zeros"
    raise ValueError(f"conv_init is one of {', '.join(CONV_INITS)}, got {conv_init!r}")


def conv_layer(filters, kernel_size, in_channels, name, activation=None, weight_norm=False, g_init=None,
               conv_init="torch"):
    """A 'same'-padded Conv2D taking ``in_channels``, optionally weight-normalised."""
    kernel_init, bias_init = initializers(conv_init, kernel_size * kernel_size * in_channels)
    layer = keras.layers.Conv2D(filters, kernel_size, padding="same", activation=activation, name=name,
                                kernel_initializer=kernel_init, bias_initializer=bias_init)
    if weight_norm:
        return WeightNormalization(layer, g_init=g_init, name=name)
    return layer


def conv(x, filters, kernel_size, name, activation=None, weight_norm=False, g_init=None, conv_init="torch"):
    """`conv_layer` applied to the tensor ``x``."""
    return conv_layer(filters, kernel_size, x.shape[-1], name, activation, weight_norm, g_init, conv_init)(x)


def upsampler(x, scale, features, name="upsample", conv_init="torch"):
    """EDSR upsampler: x2/x4/x8 as x2 stages, x3 as one stage.

    Each stage is a conv to ``features·r²`` channels and a pixel shuffle by r.
    """
    stages = {2: [2], 3: [3], 4: [2, 2], 8: [2, 2, 2]}[scale]
    for i, r in enumerate(stages):
        x = conv(x, features * r * r, 3, f"{name}_{i}_conv", conv_init=conv_init)
        x = PixelShuffle(r, name=f"{name}_{i}_shuffle")(x)
    return x
