"""Running a trained model on images of any size: one place for how a model runs.

    runtime     `LiteRTPredictor`, `Upscaler` (tiles with context, self-ensemble): NumPy and LiteRT only,
                so upscaling with a .tflite file starts without TensorFlow
    graph       the export graph every backend runs (weight norm folded, output clipped to [0, 255])
    convert     that graph as a float TFLite file
    predictors  a Keras model through a backend (LiteRT, tf.function, Keras predict)
    files       `load`: what a --model value names (preset, .tflite, .keras, SavedModel, ncnn), as an `Upscaler`
    cpu         the CPU's name and instruction sets: which file runs fastest here
    ncnn        models trained elsewhere (Real-ESRGAN, SPAN) through ncnn, as predictors
    teaching    teacher sets: degraded LR crops and a trusted upscaler's images of them (tfsr.teach)

Names are imported on first use.
"""
from tfsr.imports import lazy_attributes

_WHERE = {
    "runtime": ("KERNELS", "LiteRTPredictor", "Upscaler", "function_predictor", "keras_predictor", "self_ensemble",
                "upscale_tiled"),
    "predictors": ("BACKENDS", "make_predictor", "upscaler"),
    "files": ("load", "open_predictor"),
    "convert": ("tflite_float32",),
    "graph": ("deployable",),
}
__getattr__ = lazy_attributes(__name__, _WHERE)
