"""The export graph: the trained function rearranged for deployment.

It is the trained function with deployment-friendly
arithmetic: weight norm folded into plain convolutions, the input
normalisation reduced to the mean subtraction (an exact 1x1 convolution;
its 1/std folded into the convolutions that read it), the output de-normalisation (× std + mean)
folded into the convolutions that feed the output, and the output clipped
to [0, 255]. This matters for int8: the final sum is then the image itself,
whose [0, 255] range quantizes well, rather than a small normalised
residual sharing a scale with pixels, and the input's mean is subtracted
exactly.
"""
import contextlib
import io
import warnings

import keras
import numpy as np

from tfsr.layers import Denormalize, Normalize, fold_weight_norm, walk_layers
from tfsr.quiet import quiet_stderr

_OUTPUT_CONVS = ("tail", "skip")  # the convolutions whose sum is the de-normalised output
_INPUT_CONVS = ("head", "skip")  # the convolutions that read the normalised input


@contextlib.contextmanager
def quiet_conversion():
    """Keep the exporter's and converter's chatter off the output.

    Keras' exporter prints the SavedModel it writes; the TFLite converter
    prints its quantization settings from C++ and warns that uint8 input
    statistics were not given (tfsr's input is the image: 0-255, scale 1).
    Conversion errors still arrive as exceptions.
    """
    with contextlib.redirect_stdout(io.StringIO()), quiet_stderr(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        yield


def deployable(model):
    """The same function as ``model``, rearranged for export (see the module doc).

    Weight norm is folded. ``Normalize`` keeps only its mean subtraction,
    as a 1x1 convolution with an identity kernel and bias −mean: in int8 its
    weights are exact and the mean is an int32 bias at 1/127 of a grey level,
    where a subtraction would quantize the mean itself (up to 0.2 grey
    levels off, a constant error the int8 file then carries everywhere). Its
    1/std scales the ``head`` (and WDSR's ``skip``) kernels, which is exact,
    zero padding included (zero stays zero). ``Denormalize``
    becomes a clip to [0, 255] and its std and mean go into the ``tail``
    (and ``skip``) convolutions: their output channel k lands on colour
    k mod 3 after any pixel shuffle, so (Σ branches)·std + mean =
    Σ (branch·std) + mean folded into one bias.
    """
    folded = fold_weight_norm(model)
    denorm = [layer for layer in walk_layers(folded) if isinstance(layer, Denormalize)]
    if not denorm:
        return folded
    std, mean = denorm[0].std, np.array(denorm[0].mean) * 255.0
    norm = [layer for layer in walk_layers(folded) if type(layer) is Normalize]
    input_std = norm[0].std if norm else 1.0

    def replace(layer):
        if isinstance(layer, Denormalize):
            return keras.layers.ReLU(max_value=255.0, name=layer.name, dtype="float32")
        if type(layer) is Normalize:
            return keras.layers.Conv2D(3, 1, name=layer.name)  # x - mean, set below
        return layer.__class__.from_config(layer.get_config())

    result = keras.models.clone_model(folded, clone_function=replace, recursive=True)
    for src, dst in zip(walk_layers(folded), walk_layers(result)):
        if src.weights:
            dst.set_weights(src.get_weights())
        elif type(src) is Normalize:
            dst.set_weights([np.eye(3, dtype="float32").reshape(1, 1, 3, 3),
                             -np.array(src.mean, "float32") * 255.0])
    for conv in walk_layers(result):
        if conv.name not in _OUTPUT_CONVS + _INPUT_CONVS:
            continue
        kernel, bias = conv.get_weights()
        if conv.name in _INPUT_CONVS:
            kernel = kernel / input_std
        if conv.name in _OUTPUT_CONVS:
            kernel, bias = kernel * std, bias * std
        if conv.name == "tail":
            bias = bias + mean[np.arange(bias.shape[0]) % 3]
        conv.set_weights([kernel, bias])
    return result


def with_fixed_batch(model, input_size=None):
    """``model`` behind an input of batch 1 and, optionally, a fixed H×W."""
    height, width = input_size or (None, None)
    inputs = keras.Input((height, width, 3), batch_size=1, name="lr")
    return keras.Model(inputs, model(inputs), name=model.name)
