"""The int8 study's instruments (docs/int8.md): where int8 loses PSNR, and empirical bias correction.

Used by tools/studies/study_int8.py (``--variants budget biascorr``); not
part of the library, whose int8 exports need neither.
"""
import keras
import numpy as np
import tensorflow as tf

from tfsr.deploy.quantization import Quantized, quantized_graph, tensor_groups
from tfsr.evaluation import evaluate
from tfsr.inference.graph import deployable
from tfsr.inference.runtime import function_predictor


def correct_biases(model, quantized, patches):
    """Empirical bias correction: make each int8 convolution's output unbiased on ``patches``.

    In graph order, every convolution's mean per-channel error (its int8
    weights and bias on the int8 graph's input against the float layer on
    the float graph's input, before the activation) is subtracted from its
    bias (Nagel et al., "Data-Free Quantization", 2019, §4.2, with
    measured rather than modelled statistics). A few dozen patches give
    each mean over 10^5 pixels. ``quantized`` is changed in place (and with
    it the float graph `quantized_graph` returned beside it, whose weights
    it shares). Returns {layer name: largest |shift|}.
    """
    reference, _ = quantized_graph(model, patches)  # the same float graph, with its own weights
    twin = quantized.layers[-1]
    input_range = quantized.get_layer("input_range")
    layers = [layer for layer in twin.layers if isinstance(layer, Quantized) and layer.quantize_kernel]
    float_convs = [reference.get_layer(layer.inner.name) for layer in layers]
    float_probe = keras.Model(reference.input, [conv.input for conv in float_convs])
    batches = {}
    for patch in patches:
        batches.setdefault(patch.shape, []).append(patch)
    batches = [input_range(np.concatenate(group)) for group in batches.values()]
    float_inputs = [float_probe(batch) for batch in batches]
    shifts = {}
    for k, (layer, float_conv) in enumerate(zip(layers, float_convs)):
        conv = layer.inner
        int8_probe = keras.Model(twin.input, layer.input)
        padding = conv.padding.upper()
        total, count = 0.0, 0
        for batch, float_input in zip(batches, float_inputs):
            error = (tf.nn.conv2d(int8_probe(batch), layer.int8_kernel(), 1, padding) + conv.bias
                     - tf.nn.conv2d(float_input[k], float_conv.kernel, 1, padding) - float_conv.bias)
            total += tf.reduce_sum(error, axis=[0, 1, 2])
            count += int(np.prod(error.shape[:3]))
        shift = total / count
        conv.bias.assign(conv.bias - shift)
        shifts[conv.name] = float(tf.reduce_max(tf.abs(shift)))
    return shifts


def quantization_budget(model, patches, source):
    """Where int8 loses PSNR: the drop on ``source`` with only one part of the graph quantized.

    Rows (dicts with ``part``, ``psnr``, ``drop``): the whole int8 graph,
    the weights alone, all activations, then each group of `tensor_groups`
    alone. It runs in Keras (fake quantization), whose drop matches the
    converted file's; the drops of the parts roughly add up to the whole.
    """
    graph, _ = quantized_graph(model, patches)

    def psnr(net):
        predict = function_predictor(net)
        return evaluate(source, lambda lr: predict(lr[None].astype(np.float32))[0], progress=False).psnr

    reference = psnr(deployable(model))
    parts = {"everything": (None, True), "weights": ((), True), "activations": (None, False)}
    parts.update({f"outputs of {group}": (names, False) for group, names in tensor_groups(graph).items()})
    rows = [{"part": "float", "psnr": reference, "drop": 0.0}]
    for part, (outputs, kernels) in parts.items():
        value = psnr(quantized_graph(model, patches, outputs, kernels)[1])
        rows.append({"part": part, "psnr": value, "drop": reference - value})
    return rows
