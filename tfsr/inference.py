"""Running a trained Keras model on images of any size.

`make_predictor` runs a model through a backend (LiteRT/XNNPACK, a
``tf.function`` or Keras ``predict``), and `upscaler` puts that in an
`Upscaler` (tiles with context, self-ensemble; see `tfsr.runtime`). Model
loading (`load_model`, `for_scale`) is `tfsr.models.loading`'s.
"""
from tfsr.export import tflite_float32
from tfsr.models.loading import ModelError, for_scale, load_model, model_scales  # noqa: F401  (re-exported)
from tfsr.runtime import (  # noqa: F401  (re-exported: the runtime is part of inference)
    LiteRTPredictor,
    Upscaler,
    function_predictor,
    keras_predictor,
    self_ensemble,
    upscale_tiled,
)

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
