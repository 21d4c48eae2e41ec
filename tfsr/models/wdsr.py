"""WDSR-A and WDSR-B (Yu et al., 2018): wide activation for efficient SR.

All convolutions are weight-normalised and all features stay in LR space:
the main branch ends in a conv to 3·s² channels and a pixel shuffle, and a
5×5 skip conv from the normalised input does the same; the two are summed.
"""
import keras

from tfsr.layers import Denormalize, Normalize, PixelShuffle, Scale
from tfsr.models.common import conv

SCALES = (2, 3, 4, 8)
_WDSR_STD = 127.5  # WDSR normalises (x - mean) / 127.5


def _g(value, official_init):
    """The initial weight-norm g: ``value`` for the official init, else None (g = ‖v‖)."""
    return value if official_init else None


def wdsr_block_a(x, features, expansion, res_scale, name, official_init, conv_init="torch"):
    """3×3 conv to F·r, ReLU, 3×3 conv back to F."""
    r = conv(x, features * expansion, 3, f"{name}_expand", "relu", True, _g(2.0, official_init), conv_init)
    r = conv(r, features, 3, f"{name}_reduce", None, True, _g(res_scale, official_init), conv_init)
    return _residual(x, r, res_scale, name)


def wdsr_block_b(x, features, expansion, res_scale, name, official_init, low_rank=0.8, conv_init="torch"):
    """1×1 conv to F·r, ReLU, linear 1×1 conv to int(F·low_rank), 3×3 conv back to F."""
    r = conv(x, features * expansion, 1, f"{name}_expand", "relu", True, _g(2.0, official_init), conv_init)
    r = conv(r, int(features * low_rank), 1, f"{name}_low_rank", None, True, _g(1.0, official_init), conv_init)
    r = conv(r, features, 3, f"{name}_reduce", None, True, _g(res_scale, official_init), conv_init)
    return _residual(x, r, res_scale, name)


def _residual(x, r, res_scale, name):
    if res_scale != 1:
        r = Scale(res_scale, name=f"{name}_scale")(r)
    return keras.layers.Add(name=f"{name}_add")([x, r])


def wdsr(scale, block="a", blocks=16, features=32, expansion=None, low_rank=0.8,
         res_scale=1.0, init="norm", conv_init="torch", name=None):
    """WDSR-A (``block="a"``) or WDSR-B (``block="b"``) at one scale.

    Args:
        expansion: width multiplier before the ReLU (default 4 for A, 6 for B).
        low_rank: WDSR-B's linear low-rank ratio.
        init: ``"norm"`` starts each g at ‖v‖ (kernel = its initial v);
            ``"official"`` uses the WDSR code's constants: g = 1 for head, tail,
            skip and low-rank convs, 2 for the first conv of a block,
            ``res_scale`` for its last.
        conv_init: ``"torch"`` (the reference code's PyTorch initialisation of
            v and the biases) or ``"glorot"`` (Keras'); see
            `tfsr.models.common.initializers`.
    """
    if scale not in SCALES:
        raise ValueError(f"WDSR supports scales {SCALES}, got {scale}")
    if block not in ("a", "b"):
        raise ValueError(f"WDSR block is 'a' or 'b', got {block!r}")
    if init not in ("norm", "official"):
        raise ValueError(f"WDSR init is 'norm' or 'official', got {init!r}")
    official = init == "official"
    g_one = _g(1.0, official)
    expansion = expansion or (4 if block == "a" else 6)
    out_channels = 3 * scale * scale

    inputs = keras.Input((None, None, 3), name="lr")
    x = Normalize(_WDSR_STD, name="normalize")(inputs)
    m = conv(x, features, 3, "head", None, True, g_one, conv_init)
    for i in range(blocks):
        if block == "a":
            m = wdsr_block_a(m, features, expansion, res_scale, f"body_block{i}", official, conv_init)
        else:
            m = wdsr_block_b(m, features, expansion, res_scale, f"body_block{i}", official, low_rank, conv_init)
    m = conv(m, out_channels, 3, "tail", None, True, g_one, conv_init)
    m = PixelShuffle(scale, name="tail_shuffle")(m)
    s = conv(x, out_channels, 5, "skip", None, True, g_one, conv_init)
    s = PixelShuffle(scale, name="skip_shuffle")(s)
    x = keras.layers.Add(name="add_skip")([m, s])
    outputs = Denormalize(_WDSR_STD, name="denormalize", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"wdsr_{block}_x{scale}")
