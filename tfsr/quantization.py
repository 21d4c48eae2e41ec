"""Full-integer int8 in Keras 3: the fake-quantized export graph, its conversion, its costs, its fine-tuning.

(tensorflow-model-optimization needs the legacy tf_keras, so this is
tfsr's own.) `quantized_graph` is the int8 graph (the export graph,
`tfsr.export_graph.deployable`, rewritten by `tfsr.int8_graph`) with int8
fake quantization exactly where TFLite's int8 kernels quantize: the uint8
input, every convolution's output (after its bias and ReLU; the mean
subtraction is a 1x1 convolution there), every addition, subtraction
and constant offset, and the clipped output; weights per output channel,
symmetric, narrow range. Activation ranges start at calibrated min/max, except those the
rewrites fix. `to_int8` converts it with the ranges read from the graph,
so the file computes what the simulation computes — every tfsr int8
export is made this way. `quantization_budget` prices each part of
the graph; `correct_biases` removes the int8 graph's mean error per
channel; `fine_tune` trains weights and ranges (straight-through
gradients) to reproduce the float model.
"""
import re

import keras
import numpy as np
import tensorflow as tf

from tfsr.evaluation import evaluate
from tfsr.export_graph import deployable, quiet_conversion, with_fixed_batch
from tfsr.int8_graph import int8_graph
from tfsr.layers import Offset
from tfsr.progress import progress_bar
from tfsr.runtime import function_predictor


class FakeQuant(keras.layers.Layer):
    """int8 fake quantization over a learned range [low, high]."""

    def __init__(self, low, high, **kwargs):
        super().__init__(**kwargs)
        self.low = self.add_weight(shape=(), initializer=keras.initializers.Constant(low), name="low")
        self.high = self.add_weight(shape=(), initializer=keras.initializers.Constant(high), name="high")

    def call(self, x):
        return tf.quantization.fake_quant_with_min_max_vars(x, self.low, self.high, num_bits=8)


class Quantized(keras.layers.Layer):
    """A layer of the export graph as the int8 kernel computes it: weights and output fake-quantized.

    Wraps (and trains) the original layer's own variables. ``output_range``
    None leaves the output in float and ``kernel`` False the weights, which
    `quantization_budget` uses to price each part alone.
    """

    def __init__(self, inner, output_range=None, kernel=True, **kwargs):
        super().__init__(name=f"{inner.name}_int8", **kwargs)
        self.inner = inner
        self.quantize_kernel = kernel and isinstance(inner, keras.layers.Conv2D)
        self.output_quant = None if output_range is None else FakeQuant(*output_range, name=f"{inner.name}_range")

    def int8_kernel(self):
        """The convolution kernel as the int8 file holds it: per output channel, symmetric, narrow range."""
        kernel = self.inner.kernel
        limit = tf.reduce_max(tf.abs(kernel), axis=[0, 1, 2])
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(kernel, -limit, limit, num_bits=8,
                                                                         narrow_range=True)

    def call(self, x):
        inner = self.inner
        if self.quantize_kernel:
            x = tf.nn.conv2d(x, self.int8_kernel(), 1, inner.padding.upper()) + inner.bias
            x = inner.activation(x) if inner.activation is not None else x
        else:
            x = inner(x)
        return x if self.output_quant is None else self.output_quant(x)


_QUANTIZED_KINDS = (keras.layers.Conv2D, keras.layers.Add, keras.layers.Subtract, Offset)  # int8 kernels that requantize


def _quantized_layers(graph):
    """The layers of an export graph whose outputs the int8 file quantizes."""
    return [layer for layer in graph.layers if isinstance(layer, _QUANTIZED_KINDS)]


def _output_clip(graph):
    """(the final [0, 255] clip, the layer feeding it)."""
    clip = graph.layers[-1]
    if not isinstance(clip, keras.layers.ReLU):
        raise TypeError(f"{graph.name}: not an export graph (it does not end in a [0, 255] clip)")
    producers = {id(layer.output): layer for layer in graph.layers}
    return clip, producers[id(clip.input)]


def calibrated_ranges(graph, patches):
    """{layer name: (min, max)} of each quantized output over ``patches`` (ranges include 0)."""
    layers = _quantized_layers(graph)
    probe = keras.Model(graph.input, [layer.output for layer in layers])
    low = {layer.name: 0.0 for layer in layers}
    high = dict(low)
    for patch in patches:
        for layer, value in zip(layers, probe(patch)):
            value = np.asarray(value)
            low[layer.name] = min(low[layer.name], float(value.min()))
            high[layer.name] = max(high[layer.name], float(value.max()))
    return {name: (low[name], high[name]) for name in low}


def quantized_graph(model, patches, outputs=None, kernels=True, rewrite=True):
    """(float int8 graph, its fake-quantized twin sharing the same weights) of a Keras SR model.

    The float graph is the export graph with `tfsr.int8_graph`'s rewrites
    (``rewrite`` False: the plain export graph). Ranges are calibrated
    min/max on ``patches``, except those the rewrites fix and the output
    clip's, which becomes the last layer's fixed [0, 255] range: an 8-bit
    range of 0-255 clips and rounds to whole grey levels, which is what the
    uint8 output does. Fixed ranges are not trained by `fine_tune`.
    ``outputs`` (layer names) and ``kernels`` restrict the fake quantization
    to some activations or none of the weights, for measuring what each
    costs; the default is the whole int8 graph.
    """
    graph = deployable(model)
    ranges = calibrated_ranges(graph, patches)
    fixed = {}
    if rewrite:
        graph, fixed = int8_graph(graph, ranges)
        ranges = calibrated_ranges(graph, patches)  # the new tensors' too
    clip, last = _output_clip(graph)
    fixed[last.name] = (0.0, 255.0)
    ranges.update(fixed)
    if outputs is not None:
        ranges = {name: span for name, span in ranges.items() if name in outputs}

    def twin_layer(layer):
        if layer is clip:
            return keras.layers.Identity(name=layer.name)
        if not isinstance(layer, _QUANTIZED_KINDS):
            return layer
        quantized = Quantized(layer, ranges.get(layer.name), kernels)
        if quantized.output_quant is not None:
            quantized.output_quant.trainable = layer.name not in fixed
        return quantized

    twin = keras.models.clone_model(graph, clone_function=twin_layer)
    inputs = keras.Input((None, None, 3), name="lr")
    quantized = keras.Model(inputs, twin(FakeQuant(0.0, 255.0, trainable=False, name="input_range")(inputs)),
                            name=f"{graph.name}_int8")
    return graph, quantized


def tensor_groups(graph):
    """{group: layer names} of an int8 graph's quantized outputs, one group per role.

    A role is a layer name with its block number taken out, so the 16
    ``body_block{i}_add`` layers of WDSR-B form the group ``body_block*_add``.
    The compensated stream's ``_step``, ``_error`` and ``_carry`` tensors
    join their addition's group: they are exact only together. The additions
    of the head's dithered copies (``head_copy{i}_add``, ...) form one group,
    ``head_add``.
    """
    groups = {}
    for layer in _quantized_layers(graph):
        role = re.sub(r"block\d+_", "block*_", layer.name)
        role = re.sub(r"_copy\d+", "", role)
        role = re.sub(r"_(step|error|carry)$", "_add", role)
        role = re.sub(r"_view_offset$", "_view", role)
        groups.setdefault(role, []).append(layer.name)
    return groups


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


def fine_tune(model, quantized, images, steps, lr=1e-5, batch=16, size=48, seed=0, progress=True):
    """Train ``quantized`` to reproduce ``model``'s output on random LR crops of ``images``.

    The loss is the mean squared difference to the float output, which is
    what the PSNR drop measures. Returns the per-step losses (grey levels
    squared). The crops are whole-pixel uint8 values, as the int8 file sees
    them.
    """
    teacher = deployable(model)
    images = [np.asarray(im) for im in images if min(im.shape[:2]) >= size]
    rng = np.random.default_rng(seed)
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps)
    optimizer = keras.optimizers.Adam(schedule)
    variables = quantized.trainable_variables

    @tf.function(jit_compile=False)
    def step(x):
        target = teacher(x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(quantized(x) - target))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    losses = []
    with progress_bar(total=steps, unit="step", desc="int8 fine-tuning", disable=not progress) as bar:
        for _ in range(steps):
            crops = []
            for i in rng.integers(0, len(images), batch):
                image = images[i]
                y = rng.integers(0, image.shape[0] - size + 1)
                x = rng.integers(0, image.shape[1] - size + 1)
                crops.append(image[y:y + size, x:x + size])
            losses.append(float(step(np.stack(crops).astype(np.float32))))
            bar.update(1)
            bar.set_postfix(mse_to_float=f"{losses[-1]:.3f}", refresh=False)
    return losses


def to_int8(quantized, input_size=None):
    """The full-integer TFLite file of a fake-quantized graph (uint8 in and out), using its ranges."""
    converter = tf.lite.TFLiteConverter.from_keras_model(with_fixed_batch(quantized, input_size))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    with quiet_conversion():
        return converter.convert()


def qat_int8(model, patches, images, steps, lr=1e-5, input_size=None, progress=True):
    """Full-integer int8 TFLite bytes of ``model`` after ``steps`` of quantization-aware fine-tuning.

    ``patches`` calibrate the starting ranges; ``images`` (LR, uint8) feed the fine-tuning.
    """
    _, quantized = quantized_graph(model, patches)
    fine_tune(model, quantized, images, steps, lr, progress=progress)
    return to_int8(quantized, input_size)
