"""tfsr: single-image super-resolution with TensorFlow and Keras 3.

    import tfsr
    upscaler = tfsr.load("wdsr_b_x4_real")  # a preset by name, or a model file: a runnable Upscaler
    sr = upscaler(image)                      # uint8 (H, W, 3) in, (4H, 4W, 3) out

Importing tfsr registers its Keras layers (as soon as Keras is imported),
so saved models load with ``keras.saving.load_model(path)`` in safe mode.
``import tfsr`` itself does not import TensorFlow: upscaling with a
``.tflite`` model runs on LiteRT alone.
"""
import importlib
import os

from tfsr.imports import lazy_attributes, on_import

# Before TensorFlow is imported (only then does it take effect; setdefault
# leaves a user's own choice alone): hide TF's start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

on_import("keras", after=lambda: importlib.import_module("tfsr.layers"))  # registers the custom layers

__version__ = "0.1.0"

__getattr__ = lazy_attributes(__name__, {"inference.files": ("load",)})  # tfsr.load: imported on first use
