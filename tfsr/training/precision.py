"""``--mixed-precision``: the dtype a run computes in, and the Keras policy that sets it."""
import contextlib

import keras
import tensorflow as tf


def compute_dtype(mixed):
    """The compute dtype of ``--mixed-precision``: float16 or bfloat16 as named; auto: float16 on GPUs, bfloat16
    on CPUs (which have no fast float16); None: float32."""
    if mixed in (None, False):
        return "float32"
    if mixed in (True, "auto"):
        return "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"
    return mixed


@contextlib.contextmanager
def dtype_policy(mixed):
    """The run's mixed-precision policy (`compute_dtype`), then back.

    Under float16 Keras wraps the optimizer in a ``LossScaleOptimizer``
    (dynamic loss scaling, saved with the optimizer); every trainer scales
    its loss before the gradient and lets ``apply`` unscale it.
    """
    previous = keras.mixed_precision.global_policy()
    dtype = compute_dtype(mixed)
    if dtype != "float32":
        keras.mixed_precision.set_global_policy(f"mixed_{dtype}")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
