"""A trained Keras model through a backend: LiteRT/XNNPACK, a ``tf.function`` or Keras ``predict``.

`make_predictor` gives the function, `upscaler` puts it in an `Upscaler`
(tiles with context, self-ensemble; see `tfsr.inference.runtime`).
"""
from tfsr.inference.convert import tflite_float32
from tfsr.inference.runtime import LiteRTPredictor, Upscaler, function_predictor, keras_predictor

BACKENDS = ("litert", "function", "keras")
DEFAULT_BACKEND = "litert"


def make_predictor(model, backend=DEFAULT_BACKEND):
    """A function running ``model`` on a float32 NHWC batch with ``backend``."""
    if backend == "keras":
        return keras_predictor(model)
    if backend == "function":
        return function_predictor(model)
    if backend == "litert":
        return LiteRTPredictor(tflite_float32(model))
    raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


def upscaler(model, scale, tile=None, overlap=16, ensemble=False, backend=DEFAULT_BACKEND):
    """An `Upscaler` running a single-scale Keras model through ``backend``:
    ``"litert"`` (fastest on CPU, the default), ``"function"`` or ``"keras"``."""
    return Upscaler(make_predictor(model, backend), scale, tile, overlap, ensemble)
