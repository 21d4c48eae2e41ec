"""Keras layers the SR models are made of.

All layers are registered serializables, so every tfsr model loads with
``keras.saving.load_model(path)`` in safe mode (no ``Lambda`` anywhere).
"""
import keras
import numpy as np
import tensorflow as tf
from keras import ops

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
"""Mean of the DIV2K training images per RGB channel, in [0, 1]."""

_NORM_EPSILON = 1e-12  # as tf.nn.l2_normalize: keeps an all-zero v finite


@keras.saving.register_keras_serializable(package="tfsr")
class Normalize(keras.layers.Layer):
    """``(x - mean·255) / std``: pixel-mean normalisation of a [0, 255] image.

    EDSR uses ``std = 1``, WDSR ``std = 127.5``.
    """

    def __init__(self, std=1.0, mean=DIV2K_RGB_MEAN, **kwargs):
        super().__init__(**kwargs)
        self.std = float(std)
        self.mean = tuple(float(m) for m in mean)

    def _mean255(self):
        return ops.cast(np.array(self.mean) * 255.0, self.compute_dtype)

    def call(self, x):
        return (x - self._mean255()) / self.std

    def get_config(self):
        return {**super().get_config(), "std": self.std, "mean": self.mean}


@keras.saving.register_keras_serializable(package="tfsr")
class Denormalize(Normalize):
    """``x · std + mean·255``: the inverse of `Normalize`."""

    def call(self, x):
        return x * self.std + self._mean255()


@keras.saving.register_keras_serializable(package="tfsr")
class Scale(keras.layers.Layer):
    """Multiplies by a constant: EDSR/WDSR residual scaling."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="tfsr")
class Offset(keras.layers.Layer):
    """Adds a constant (an ADD of a constant in TFLite; the int8 graph's dither)."""

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, x):
        return x + self.value

    def get_config(self):
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="tfsr")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel upsampling: (H, W, C·r²) -> (r·H, r·W, C).

    Built on ``depth_to_space`` so TFLite gets a native DEPTH_TO_SPACE op.
    Channels are ordered (r, r, C), not PyTorch's (C, r, r).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, x):
        return ops.depth_to_space(x, self.scale)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        r = self.scale
        return (n, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="tfsr")
class BilinearUpscale(keras.layers.Layer):
    """Bilinear upsampling by an integer ``scale`` (half-pixel centres, edges clamped): TFLite's RESIZE_BILINEAR.

    Keras' ``UpSampling2D`` cannot be traced for export on an input of unknown
    height and width; this computes the output size as a tensor.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, x):
        size = ops.shape(x)[1:3]
        return tf.image.resize(x, (size[0] * self.scale, size[1] * self.scale), "bilinear")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        r = self.scale
        return (n, None if h is None else h * r, None if w is None else w * r, c)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="tfsr")
class ChannelSlice(keras.layers.Layer):
    """Channels ``start:stop`` of a tensor (a STRIDED_SLICE in TFLite, exact in int8)."""

    def __init__(self, start, stop, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, x):
        return x[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="tfsr")
class WeightNormalization(keras.layers.Wrapper):
    """Weight-normalised ``Conv2D`` (Salimans & Kingma 2016).

    The wrapped layer's kernel becomes the direction ``v``; the effective
    kernel is ``g · v / ‖v‖`` with the norm per output channel over
    (kh, kw, c_in).

    Args:
        layer: a channels-last ``keras.layers.Conv2D``.
        g_init: ``None`` starts with ``g = ‖v‖`` so the initial kernel equals
            ``v`` (tensorflow-addons with ``data_init=False``); a number starts
            with that constant (the official WDSR initialisation).
    """

    def __init__(self, layer, g_init=None, **kwargs):
        if not isinstance(layer, keras.layers.Conv2D) or layer.data_format != "channels_last":
            raise TypeError(f"WeightNormalization wraps a channels-last Conv2D, got {layer!r}")
        super().__init__(layer, **kwargs)
        self.g_init = None if g_init is None else float(g_init)

    def build(self, input_shape):
        super().build(input_shape)
        if self.g_init is None:
            initializer = lambda shape, dtype=None: ops.cast(_channel_norm(self.layer.kernel), dtype)
        else:
            initializer = keras.initializers.Constant(self.g_init)
        self.g = self.add_weight(name="g", shape=(self.layer.filters,), initializer=initializer)

    def effective_kernel(self):
        """``g · v / ‖v‖``: the kernel a plain Conv2D would need."""
        v = self.layer.kernel
        return v * (self.g / _channel_norm(v))

    def set_effective_kernel(self, kernel):
        """Make `effective_kernel` equal ``kernel``: ``v = kernel``, ``g = ‖kernel‖`` per output channel."""
        kernel = np.asarray(kernel)
        self.layer.kernel.assign(kernel)
        self.g.assign(np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2))).astype(np.float32))

    def call(self, inputs):
        conv = self.layer
        outputs = conv.convolution_op(inputs, self.effective_kernel())
        if conv.use_bias:
            outputs = outputs + conv.bias
        if conv.activation is not None:
            outputs = conv.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "g_init": self.g_init}


def _channel_norm(kernel):
    return ops.sqrt(ops.maximum(ops.sum(ops.square(kernel), axis=(0, 1, 2)), _NORM_EPSILON))


def walk_layers(model):
    """The layers of a model in order, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer)
        else:
            yield layer


def weight_norm_layers(model):
    """All `WeightNormalization` layers of a model, nested models included."""
    return [layer for layer in walk_layers(model) if isinstance(layer, WeightNormalization)]


def fold_weight_norm(model):
    """The same model with every `WeightNormalization` replaced by a plain Conv2D.

    The folded convolution carries the effective kernel ``g · v / ‖v‖`` and
    the same bias, so outputs agree to float32 rounding. Export uses it: the
    result has no weight-norm arithmetic left and converts to plain CONV_2D.
    Models without weight norm are returned unchanged.
    """
    if not weight_norm_layers(model):
        return model

    def plain(layer):
        if isinstance(layer, WeightNormalization):
            config = {**layer.layer.get_config(), "name": layer.name}
            return layer.layer.__class__.from_config(config)
        return layer.__class__.from_config(layer.get_config())

    folded = keras.models.clone_model(model, clone_function=plain, recursive=True)
    _copy_folded_weights(model, folded)
    return folded


def _copy_folded_weights(source, target):
    for src, dst in zip(source.layers, target.layers):
        if isinstance(src, WeightNormalization):
            weights = [ops.convert_to_numpy(src.effective_kernel())]
            if src.layer.use_bias:
                weights.append(ops.convert_to_numpy(src.layer.bias))
            dst.set_weights(weights)
        elif isinstance(src, keras.Model):
            _copy_folded_weights(src, dst)
        else:
            dst.set_weights(src.get_weights())


def initialize_weight_norm_from_data(model, images, epsilon=1e-6):
    """Data-dependent initialisation (Salimans & Kingma 2016, section 3).

    For each weight-normalised layer in order, sets ``g`` and the bias so its
    pre-activation output on ``images`` has zero mean and unit variance per
    channel. One forward pass of the model prefix per layer: cheap on a
    small batch, done once before training.
    """
    images = ops.convert_to_tensor(images, "float32")
    for layer in weight_norm_layers(model):
        inputs = keras.Model(model.inputs, layer.input)(images)
        v = layer.layer.kernel
        direction = v / _channel_norm(v)
        t = layer.layer.convolution_op(inputs, direction)
        mean = ops.mean(t, axis=(0, 1, 2))
        std = ops.sqrt(ops.var(t, axis=(0, 1, 2)) + epsilon)
        layer.g.assign(1.0 / std)
        if layer.layer.use_bias:
            layer.layer.bias.assign(-mean / std)
