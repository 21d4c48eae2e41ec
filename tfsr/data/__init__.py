"""Everything tfsr trains or evaluates on: sources, MATLAB bicubic and tf.data pipelines."""
from tfsr.data.images import DataError, ImageError, list_images, read_image, write_image
from tfsr.data.imresize import imresize
from tfsr.data.pipeline import multiscale_training_dataset, training_dataset, validation_dataset
from tfsr.data.sources import (
    BENCHMARKS,
    Pair,
    PairedSet,
    TfdsSource,
    benchmark,
    bicubic_upscale,
    data_root,
    folder,
    image_folder,
    resolve,
    sample,
)

__all__ = ["BENCHMARKS", "DataError", "ImageError", "Pair", "PairedSet", "TfdsSource", "benchmark",
           "bicubic_upscale", "data_root", "folder", "image_folder", "imresize", "list_images",
           "multiscale_training_dataset", "read_image", "resolve", "sample", "training_dataset",
           "validation_dataset", "write_image"]
