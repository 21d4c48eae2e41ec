"""Building blocks shared by the model families."""
import keras

from tfsr.layers import PixelShuffle, WeightNormalization


def conv(filters, kernel_size, name, activation=None, weight_norm=False, g_init=None):
    """A 'same'-padded Conv2D, optionally weight-normalised."""
    layer = keras.layers.Conv2D(filters, kernel_size, padding="same", activation=activation, name=name)
    if weight_norm:
        return WeightNormalization(layer, g_init=g_init, name=name)
    return layer


def upsampler(x, scale, features, name="upsample"):
    """EDSR upsampler: x2/x4/x8 as x2 stages, x3 as one stage.

    Each stage is a conv to ``features·r²`` channels and a pixel shuffle by r.
    """
    stages = {2: [2], 3: [3], 4: [2, 2], 8: [2, 2, 2]}[scale]
    for i, r in enumerate(stages):
        x = keras.layers.Conv2D(features * r * r, 3, padding="same", name=f"{name}_{i}_conv")(x)
        x = PixelShuffle(r, name=f"{name}_{i}_shuffle")(x)
    return x
