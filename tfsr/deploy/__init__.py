"""Shipping a model: SavedModel and TFLite exports (float and full-integer int8), each verified before it is written.

    export        SavedModel, TFLite in every mode, metadata, the verified write and its report
    quantization  the fake-quantized int8 graph, its conversion and quantization-aware fine-tuning
    int8_graph    exact rewrites of the export graph that int8 rounds less (compensated stream, dithers)
    verify        scoring an export against its Keras model; calibration patches; latency

Names are imported on first use.
"""
from tfsr.imports import lazy_attributes

_WHERE = {
    "export": ("CALIBRATED", "QUANTIZATIONS", "ExportError", "export_savedmodel", "export_tflite", "op_names",
               "read_metadata", "tensor_types", "to_tflite"),
    "quantization": ("fine_tune", "qat_int8", "quantized_graph", "to_int8"),
    "verify": ("calibration_patches", "compare"),
}
__getattr__ = lazy_attributes(__name__, _WHERE)
