"""Everything tfsr trains or evaluates on: sources, MATLAB bicubic, degradations and tf.data pipelines.

Names are imported on first use, so reading images and sources does not
import TensorFlow (only the tf.data pipelines and degradations need it).
"""
# Eager (NumPy only): the function shares its module's name, which would otherwise shadow it.
from tfsr.data.imresize import imresize as imresize
from tfsr.imports import lazy_attributes

_WHERE = {
    "images": ("DataError", "ImageError", "list_images", "read_image", "write_image"),
    "pipeline": ("multiscale_training_dataset", "training_dataset", "validation_dataset"),
    "sources": ("BENCHMARKS", "Pair", "PairedSet", "TfdsSource", "benchmark", "bicubic_upscale", "data_root",
                "folder", "image_folder", "sample", "split_held_out"),
    "catalog": ("resolve",),
    "degradations": ("Degradation", "degradation"),
    "degradation_options": ("DegradationError",),
    "teacher_sets": ("teacher_set",),
}
__getattr__ = lazy_attributes(__name__, _WHERE)
