"""Everything tfsr trains or evaluates on: sources, MATLAB bicubic and tf.data pipelines.

Names are imported on first use, so reading images and sources does not
import TensorFlow (only the tf.data pipelines need it).
"""
import importlib

# Eager (NumPy only): the function shares its module's name, which would otherwise shadow it.
from tfsr.data.imresize import imresize

_WHERE = {
    "images": ("DataError", "ImageError", "list_images", "read_image", "write_image"),
    "pipeline": ("multiscale_training_dataset", "training_dataset", "validation_dataset"),
    "sources": ("BENCHMARKS", "Pair", "PairedSet", "TfdsSource", "benchmark", "bicubic_upscale", "data_root",
                "folder", "image_folder", "sample"),
    "catalog": ("resolve",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = ["BENCHMARKS", "DataError", "ImageError", "Pair", "PairedSet", "TfdsSource", "benchmark",
           "bicubic_upscale", "data_root", "folder", "image_folder", "imresize", "list_images",
           "multiscale_training_dataset", "read_image", "resolve", "sample", "training_dataset",
           "validation_dataset", "write_image"]


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'tfsr.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tfsr.data.{_MODULE_OF[name]}"), name)
