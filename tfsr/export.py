"""Exporting models: weight norm folded, to TFLite (and SavedModel)."""
import contextlib
import io

import keras
import tensorflow as tf

from tfsr.layers import fold_weight_norm


@contextlib.contextmanager
def _quiet():
    """Keras' exporter prints the SavedModel it writes; keep stdout clean."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def with_fixed_batch(model, input_size=None):
    """``model`` (weight norm folded) behind an input of batch 1 and, optionally, fixed H×W."""
    height, width = input_size or (None, None)
    inputs = keras.Input((height, width, 3), batch_size=1, name="lr")
    return keras.Model(inputs, fold_weight_norm(model)(inputs), name=model.name)


def tflite_float32(model, input_size=None):
    """A float32 TFLite flatbuffer of ``model``; dynamic H×W unless ``input_size``."""
    converter = tf.lite.TFLiteConverter.from_keras_model(with_fixed_batch(model, input_size))
    with _quiet():
        return converter.convert()
