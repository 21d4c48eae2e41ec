"""Full-integer int8 in Keras 3: the fake-quantized export graph, its conversion and its fine-tuning.

(tensorflow-model-optimization needs the legacy tf_keras, so this is
tfsr's own.) `quantized_graph` is the int8 graph (the export graph,
`tfsr.inference.graph.deployable`, rewritten by `tfsr.deploy.int8_graph`) with int8
fake quantization exactly where TFLite's int8 kernels quantize: the uint8
input, every convolution's output (after its bias and ReLU; the mean
subtraction is a 1x1 convolution there), every PReLU's, every addition, subtraction
and constant offset, and the clipped output; weights per output channel,
symmetric, narrow range. Activation ranges start at calibrated min/max, except those the
rewrites fix. `to_int8` converts it with the ranges read from the graph,
so the file computes what the simulation computes — every tfsr int8
export is made this way. `fine_tune` trains weights and ranges
(straight-through gradients) to reproduce the float model. (The int8
study's tools, pricing each part of the graph and bias correction, are in
tools/studies/int8_budget.py.)
"""
import re

import keras
import numpy as np
import tensorflow as tf

from tfsr.deploy.int8_graph import int8_graph
from tfsr.inference.graph import deployable, quiet_conversion, with_fixed_batch
from tfsr.layers import Offset
from tfsr.progress import progress_bar


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


_QUANTIZED_KINDS = (keras.layers.Conv2D, keras.layers.PReLU, keras.layers.Add, keras.layers.Subtract,
                    Offset)  # int8 kernels that requantize


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
    for patch in progress_bar(patches, desc="int8 calibration", unit="patch", leave=False):
        for layer, value in zip(layers, probe(patch)):
            value = np.asarray(value)
            low[layer.name] = min(low[layer.name], float(value.min()))
            high[layer.name] = max(high[layer.name], float(value.max()))
    return {name: (low[name], high[name]) for name in low}


def quantized_graph(model, patches, outputs=None, kernels=True, rewrite=True):
    """(float int8 graph, its fake-quantized twin sharing the same weights) of a Keras SR model.

    The float graph is the export graph with `tfsr.deploy.int8_graph`'s rewrites
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
