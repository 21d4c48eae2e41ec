"""TFLite files made by the TFLite converter from the export graph: float32, float16, dynamic range, int16x8.

What runs a Keras model on LiteRT (`tfsr.inference.predictors`, the
upscaler's model cache) needs only `tflite_float32`. Full-integer int8 is
not made here: it comes from tfsr's own fake-quantized graph
(`tfsr.deploy.quantization`), so that training never imports the int8 code.
"""
import tensorflow as tf

from tfsr.inference.graph import deployable, quiet_conversion, with_fixed_batch

CONVERTER_MODES = ("float32", "float16", "dynamic", "int16x8")


def tflite_float32(model, input_size=None):
    """A float32 TFLite flatbuffer of ``model``; dynamic H×W unless ``input_size``."""
    return convert(model, "float32", input_size)


def convert(model, quantize="float32", input_size=None, calibration=None):
    """The TFLite flatbuffer of ``model``'s export graph, converted as ``quantize`` says (see `tflite_converter`)."""
    converter = tflite_converter(deployable(model), quantize, input_size, calibration)
    with quiet_conversion():
        return converter.convert()


def tflite_converter(graph, quantize="float32", input_size=None, calibration=None):
    """A TFLiteConverter for the Keras ``graph`` as it is, set up for ``quantize``.

    ``float16`` halves the weights; ``dynamic`` stores int8 weights with
    float activations; ``int16x8`` (int8 weights, int16 activations) needs
    ``calibration``, float32 (1, h, w, 3) LR patches in [0, 255], for its
    ranges. ``input_size`` (height, width) bakes a static shape.
    """
    if quantize not in CONVERTER_MODES:
        raise ValueError(f"unknown converter mode {quantize!r} ({', '.join(CONVERTER_MODES)})")
    converter = tf.lite.TFLiteConverter.from_keras_model(with_fixed_batch(graph, input_size))
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int16x8":
        if calibration is None:
            raise ValueError("int16x8 quantization needs calibration patches")
        patches = list(calibration)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([p] for p in patches)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter
