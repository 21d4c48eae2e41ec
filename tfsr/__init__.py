"""tfsr: single-image super-resolution with TensorFlow and Keras 3.

Importing tfsr registers its Keras layers, so saved models load with
``keras.saving.load_model(path)`` in safe mode.
"""
import os

# Before TensorFlow is imported (only then does it take effect; setdefault
# leaves a user's own choice alone): hide TF's start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfsr import layers  # noqa: F401  (registers the custom layers)

__version__ = "0.1.0"
