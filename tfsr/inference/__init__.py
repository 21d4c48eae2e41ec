"""Running a trained model on images of any size: one place for how a model runs.

    runtime     `LiteRTPredictor`, `Upscaler` (tiles with context, self-ensemble): NumPy and LiteRT only,
                so upscaling with a .tflite file starts without TensorFlow
    graph       the export graph every backend runs (weight norm folded, output clipped to [0, 255])
    convert     that graph as a float TFLite file
    predictors  a Keras model through a backend (LiteRT, tf.function, Keras predict)
    files       what a --model value names (preset, .tflite, .keras, SavedModel), as an `Upscaler`

Names are imported on first use.
"""
from tfsr.imports import lazy_attributes

_WHERE = {
    "runtime": ("KERNELS", "LiteRTPredictor", "Upscaler", "function_predictor", "keras_predictor", "self_ensemble",
                "upscale_tiled"),
    "predictors": ("BACKENDS", "make_predictor", "upscaler"),
    "files": ("open_predictor", "open_upscaler"),
    "convert": ("tflite_float32",),
    "graph": ("deployable",),
}
__getattr__ = lazy_attributes(__name__, _WHERE)
