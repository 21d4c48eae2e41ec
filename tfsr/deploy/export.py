"""Exporting models for serving: SavedModel and TFLite (float32, float16, int8, int16x8).

Every export starts from the export graph (`tfsr.inference.graph.deployable`)
and is verified against the Keras model before it is written. int8 files
are converted from the fake-quantized int8 graph (`tfsr.deploy.quantization`,
`tfsr.deploy.int8_graph`),
so they compute what its simulation computes.
"""
import contextlib
import io
import json

import keras
import numpy as np
import tensorflow as tf

from tfsr import progress
from tfsr.deploy.quantization import quantized_graph, to_int8
from tfsr.inference.convert import convert
from tfsr.inference.graph import deployable, quiet_conversion

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int16x8")
CALIBRATED = ("int8", "int16x8")  # the quantizations that need calibration patches


def to_tflite(model, quantize="float32", input_size=None, calibration=None):
    """Convert to TFLite.

    Args:
        quantize: ``float32``; ``float16`` (half weights); ``dynamic`` (int8
            weights, float activations); ``int8`` (full integer: int8 ops,
            uint8 input and output; the fake-quantized int8 graph with
            ranges calibrated on ``calibration``, converted with them);
            ``int16x8`` (int8 weights, int16 activations, float input and
            output, calibrated; DEPTH_TO_SPACE has no 16x8 kernel and runs
            in float): the int8 file size at nearly float quality.
        input_size: (height, width) to bake a static shape (GPU/NNAPI
            delegates prefer it); None keeps H×W dynamic.
        calibration: for int8 and int16x8, an iterable of float32 (1, h, w, 3) LR patches
            in [0, 255].
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r} ({', '.join(QUANTIZATIONS)})")
    if quantize == "int8":
        if calibration is None:
            raise ValueError("int8 quantization needs calibration patches")
        return to_int8(quantized_graph(model, calibration)[1], input_size)
    return convert(model, quantize, input_size, calibration)


def op_names(tflite_bytes):
    """The sorted set of operators in a TFLite model."""
    from ai_edge_litert.tools import flatbuffer_utils as fb
    model = fb.read_model_from_bytearray(bytearray(tflite_bytes))
    names = set()
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            names.add(fb.opcode_to_name(model, op.opcodeIndex))
    return sorted(names)


def tensor_types(tflite_bytes):
    """The sorted set of tensor types (FLOAT32, INT8, ...) in a TFLite model."""
    from ai_edge_litert.tools import flatbuffer_utils as fb
    model = fb.read_model_from_bytearray(bytearray(tflite_bytes))
    return sorted({fb.type_to_name(t.type) for g in model.subgraphs for t in g.tensors})


def context_pixels(model, probe=97):
    """LR pixels of context an output pixel depends on (the receptive-field radius), measured.

    One LR pixel of a random image is changed; the output pixels that move
    lie within this many LR pixels of it. A tile run with at least this much
    context on every side computes exactly what the whole image would.
    """
    x = np.random.default_rng(0).uniform(0, 255, (1, probe, probe, 3)).astype(np.float32)
    centre = probe // 2
    moved = x.copy()
    moved[0, centre, centre] += 64.0
    change = np.abs(np.asarray(model(moved)) - np.asarray(model(x))).max(axis=(0, 3))
    scale = change.shape[0] // probe
    rows, cols = np.nonzero(change > 0)
    reach = max(np.abs(rows // scale - centre).max(), np.abs(cols // scale - centre).max())
    if reach >= centre:
        raise ValueError(f"{model.name}: receptive field wider than the {probe}-pixel probe")
    return int(reach)


def gpu_delegate_check(tflite_bytes):
    """What TFLite's model analyzer says of the GPU delegate (``gpu_compatibility=True``).

    Returns {"compatible", "warnings" (the analyzer's lines about
    unsupported ops), "analyzer"}. The analyzer checks op support for the
    GPU delegate of this TFLite version; it cannot promise runtime success
    on a given phone.
    """
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):  # the analyzer prints its report
        tf.lite.experimental.Analyzer.analyze(model_content=tflite_bytes, gpu_compatibility=True)
    text = captured.getvalue()
    lines = text.splitlines()
    return {"compatible": any("looks compatible with GPU delegate" in line for line in lines),
            "warnings": [line.strip() for line in lines if "COMPATIBILITY WARNING" in line.upper()
                         or "not supported" in line.lower()],
            "analyzer": f"tf.lite.experimental.Analyzer, gpu_compatibility=True (TensorFlow {tf.__version__})"}


def with_metadata(tflite_bytes, metadata):
    """Embed a JSON dict as the model's ``tfsr`` metadata entry."""
    from ai_edge_litert.tools import flatbuffer_utils as fb
    model = fb.read_model_from_bytearray(bytearray(tflite_bytes))
    buffer = fb.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = fb.schema_fb.MetadataT()
    entry.name = "tfsr"
    entry.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    return bytes(fb.convert_object_to_bytearray(model))


def read_metadata(tflite_bytes):
    """The ``tfsr`` metadata dict of a TFLite model, or None."""
    from ai_edge_litert.tools import flatbuffer_utils as fb
    model = fb.read_model_from_bytearray(bytearray(tflite_bytes))
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == "tfsr":
            return json.loads(bytes(model.buffers[entry.buffer].data).decode())
    return None


def save_savedmodel(model, path):
    """Write a SavedModel with two signatures, loadable without tfsr.

    ``serving_default``: uint8 RGB batch (N, H, W, 3) -> ``{"sr": uint8}``.
    ``float32``: float32 RGB in [0, 255] -> ``{"sr": float32}`` (unrounded).
    """
    net = deployable(model)
    archive = keras.export.ExportArchive()
    archive.track(net)

    def upscale_uint8(lr):
        sr = net(tf.cast(lr, tf.float32))
        return {"sr": tf.cast(tf.clip_by_value(tf.floor(sr + 0.5), 0, 255), tf.uint8)}

    archive.add_endpoint("serving_default", upscale_uint8, [tf.TensorSpec((None, None, None, 3), tf.uint8, "lr")])
    archive.add_endpoint("float32", lambda lr: {"sr": net(lr)},
                         [tf.TensorSpec((None, None, None, 3), tf.float32, "lr")])
    with quiet_conversion():
        archive.write_out(str(path))


class ExportError(ValueError):
    """An export that failed its verification; nothing was written."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


def _check_and_report(report, path, what, max_psnr_drop, max_niqe_change=None):
    report["max_psnr_drop"] = max_psnr_drop
    failures = []
    if not report["psnr_drop"] <= max_psnr_drop:
        failures.append(f"loses {report['psnr_drop']:.3f} dB PSNR on {report['dataset']} (limit {max_psnr_drop} dB)")
    if max_niqe_change is not None:
        report["max_niqe_change"] = max_niqe_change
        if not abs(report["niqe_change"]) <= max_niqe_change:  # NaN (images too small for NIQE) fails too
            failures.append(f"changes NIQE by {report['niqe_change']:+.3f} on {report['dataset']} (limit "
                            f"±{max_niqe_change}; white noise as large: {report['niqe_noise_change']:+.3f})")
    report["passed"] = not failures
    if failures:
        raise ExportError(f"{path}: not written: {what} {' and '.join(failures)}", report)


def _held_out(measured):
    """The part of a verification report kept for a held-out set."""
    keys = ("dataset", "input", "keras", "exported", "psnr_drop", "ssim_drop", "niqe_change", "niqe_noise_change",
            "niqe_noise_spread", "max_pixel_difference")
    return {key: measured[key] for key in keys}


def export_savedmodel(model, scale, path, verify_on, max_psnr_drop=0.01, held_out=None, recipe=None):
    """Write a verified SavedModel (see `save_savedmodel`) and ``<path>.json``.

    ``held_out``: another `PairedSet` scored the same way, recorded (not checked) in the report;
    ``recipe``: how the model was made (e.g. a preset at a strength), recorded as it is.
    """
    from tfsr.data.images import atomic_output
    from tfsr.deploy.verify import compare_predictor

    with atomic_output(path) as tmp:
        save_savedmodel(model, tmp)
        loaded = tf.saved_model.load(str(tmp))
        serve = loaded.signatures["float32"]
        report = {"file": str(path), "scale": scale, **(recipe or {}), "signatures": {
            "serving_default": "uint8 RGB (N, H, W, 3) -> {'sr': uint8}",
            "float32": "float32 RGB [0, 255] (N, H, W, 3) -> {'sr': float32}"}}
        served = lambda x: serve(lr=tf.constant(x))["sr"].numpy()
        report.update(compare_predictor(model, scale, served, verify_on))
        if held_out is not None:
            report["held_out"] = _held_out(compare_predictor(model, scale, served, held_out))
        _check_and_report(report, path, "the SavedModel", max_psnr_drop)
    with atomic_output(f"{path}.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    return report


def export_tflite(model, scale, path, quantize="float32", calibration=None, input_size=None, verify_on=None,
                  max_psnr_drop=None, metadata=None, name=None, converted=None, calibration_info=None,
                  held_out=None, max_niqe_change=None, recipe=None):
    """Convert, verify and (only if verification passes) write a TFLite model.

    Args:
        model, scale: a single-scale Keras model and its scale.
        calibration: for int8 and int16x8, float32 LR patches (see `tfsr.deploy.verify.calibration_patches`).
        verify_on: a `PairedSet` scored with both models.
        max_psnr_drop: largest accepted PSNR loss in dB (default 0.1 for
            int8 and int16x8, 0.01 otherwise); more raises `ExportError` and writes nothing.
        metadata: embed name, scale, input range and normalisation in the file.
        converted: the TFLite bytes when already converted otherwise (e.g. by
            `tfsr.deploy.quantization`); they are verified and written the same way.
        calibration_info: how ``calibration`` was made (dataset, patches,
            patch size, fine-tuning steps), recorded in the report and metadata.
        held_out: another `PairedSet` scored the same way, recorded (not
            checked) in the report.
        max_niqe_change: if given, also refuse a file whose mean NIQE on
            ``verify_on`` moves by more (a perceptual model must look the same).
        recipe: how the model was made (e.g. a preset at a strength), recorded in the report as it is.
    Returns the verification report (also written as ``<path>.json``).
    """
    from tfsr.data.images import atomic_output
    from tfsr.deploy.verify import compare, litert_latency
    from tfsr.inference.cpu import cpu_description

    if max_psnr_drop is None:
        max_psnr_drop = 0.1 if quantize in CALIBRATED else 0.01
    if converted is None:
        progress.write(f"{path}: converting to {quantize} TFLite"
                       + (f", calibrated on {len(calibration)} LR patches" if quantize in CALIBRATED else ""))
        converted = to_tflite(model, quantize, input_size, calibration)
    tflite = converted
    if metadata:
        tflite = with_metadata(tflite, describe(model, scale, quantize, name, calibration_info))
    report = {"file": str(path), "quantize": quantize, "scale": scale, **(recipe or {}),
              "input": "uint8 RGB [0, 255]" if quantize == "int8" else "float32 RGB [0, 255]",
              "input_size": list(input_size) if input_size else "dynamic",
              "size_bytes": len(tflite), "ops": op_names(tflite), "tensor_types": tensor_types(tflite),
              "gpu_delegate": gpu_delegate_check(tflite),
              "latency_ms_litert_2_threads": litert_latency(tflite, input_size or (128, 128)),
              "latency_input": list(input_size or (128, 128)), "latency_cpu": cpu_description(),
              # What ran the verification and the latency: XNNPACK's code (and, for int8, how it breaks
              # rounding ties) depends on latency_cpu's instruction sets; see docs/int8.md.
              "kernels": "xnnpack"}
    if input_size:
        context = context_pixels(model)
        report["tiling"] = {
            "context_lr_pixels": context,
            "tile_lr": [input_size[0] - 2 * context, input_size[1] - 2 * context],
            "rule": f"cut the LR image into tiles of at most {input_size[0] - 2 * context}x"
                    f"{input_size[1] - 2 * context}, run each with {context} pixels of real image around it "
                    f"(windows shifted inwards at the borders, edge-padded to {input_size[0]}x{input_size[1]} "
                    f"when the image is smaller), keep the centre x{scale}: the result equals whole-image "
                    f"inference"}
    if calibration_info:
        report["calibration"] = calibration_info
    progress.write(f"{path}: verifying against the Keras model on {verify_on.name} ({len(verify_on)} images)")
    report.update(compare(model, scale, tflite, verify_on, input_size))
    if held_out is not None:
        report["held_out"] = _held_out(compare(model, scale, tflite, held_out, input_size))
    _check_and_report(report, path, quantize, max_psnr_drop, max_niqe_change)
    with atomic_output(path) as tmp:
        tmp.write_bytes(tflite)
    with atomic_output(f"{path}.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    return report


def describe(model, scale, quantize, name=None, calibration=None):
    """The metadata written into exported files (with how int8 ranges were calibrated, when given)."""
    extra = {"calibration": calibration} if calibration else {}
    return {"name": name or model.name, "scale": scale, "quantization": quantize, **extra,
            "input": "RGB, [0, 255] (uint8 for int8 models, float32 otherwise), batch 1, any H×W unless fixed",
            "output": "RGB, [0, 255], scale·H × scale·W",
            "normalisation": "inside the model: (x - DIV2K mean·255) / std in, × std + mean out"}
