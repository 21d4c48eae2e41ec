"""Model size and cost: trainable parameters and FLOPs per LR pixel."""
import keras
import numpy as np

from tfsr.layers import WeightNormalization, walk_layers

_PROBE = 8  # LR side of the probe input


def count_params(model):
    """Trainable parameters (weight-norm g included, as the WDSR paper counts)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def flops_per_lr_pixel(model):
    """Floating-point operations (2 per multiply-add) of all convolutions, per LR input pixel.

    Convolutions after an upsampling stage run on more pixels; the count
    takes each layer's output size from a probe pass.
    """
    convs = [layer for layer in walk_layers(model) if isinstance(layer, (keras.layers.Conv2D, WeightNormalization))]
    if not convs:
        return 0.0
    probe = keras.Model(model.input, [c.output for c in convs])
    outputs = probe(np.zeros((1, _PROBE, _PROBE, 3), np.float32))
    total = 0.0
    for conv, out in zip(convs, outputs):
        kernel = (conv.layer if isinstance(conv, WeightNormalization) else conv).kernel
        kh, kw, cin, cout = kernel.shape
        pixels = out.shape[1] * out.shape[2] / _PROBE ** 2
        total += 2.0 * kh * kw * cin * cout * pixels
    return total
