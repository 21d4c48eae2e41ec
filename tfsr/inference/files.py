"""What a ``--model`` value names, turned into an `Upscaler`.

A preset name (``wdsr_b_x4``: its shipped float16 ``.tflite``), a
``.tflite`` file, a ``.keras`` file or a SavedModel folder. On the LiteRT
backend a Keras model is converted once and the ``.tflite`` kept in a
cache keyed by the file's content, so later calls start without
TensorFlow. The cache is ``$TFSR_CACHE``, else ``$XDG_CACHE_HOME/tfsr``,
else ``~/.cache/tfsr``; a corrupt entry is rebuilt, and a read-only cache
only costs the conversion.
"""
import contextlib
import hashlib
import os
from pathlib import Path

from tfsr import __version__
from tfsr.data.images import atomic_output
from tfsr.errors import ModelError
from tfsr.inference.ncnn import NcnnPredictor, is_ncnn
from tfsr.inference.runtime import LiteRTPredictor, Upscaler
from tfsr.models.presets import get_preset, is_preset, preset_file

CONVERSION = "float32-v1"  # bump when the conversion changes: old cache entries are then ignored


def cache_dir():
    if os.environ.get("TFSR_CACHE"):
        return Path(os.environ["TFSR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tfsr"


def content_key(path, scale):
    """SHA-256 of a model file (or every file of a SavedModel folder), the scale and the conversion."""
    digest = hashlib.sha256(f"tfsr {__version__} {CONVERSION} x{scale}".encode())
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path)).encode() if path.is_dir() else b"")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def cached_conversion(path, scale, num_threads=None):
    """(LiteRT predictor, scale) of a Keras model, converted once and cached."""
    cached = cache_dir() / f"{content_key(path, scale)}.tflite"
    if cached.is_file():
        try:
            return LiteRTPredictor.from_file(cached, num_threads)
        except ModelError:
            with contextlib.suppress(OSError):  # a read-only cache keeps its corrupt entry; it is not used
                cached.unlink(missing_ok=True)  # corrupt entry: rebuild it
    from tfsr.inference.convert import tflite_float32
    from tfsr.models.loading import for_scale, load_model
    model, scale = for_scale(load_model(path), scale, str(path))
    data = tflite_float32(model)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cached) as tmp:
            tmp.write_bytes(data)
    except OSError:
        pass  # read-only or full cache: use the conversion without keeping it
    return LiteRTPredictor(data, num_threads), scale


def model_path(spec, scale=None, backend="litert"):
    """The file a ``--model`` value names: a preset's (its float16 ``.tflite`` on LiteRT, else its ``.keras``),
    or the path itself; `ModelError` if there is none."""
    if is_preset(spec):
        preset = get_preset(spec)
        if scale is not None and scale != preset.scale:
            raise ModelError(f"{spec}: this preset upscales x{preset.scale}, not x{scale}")
        return preset_file(spec, "float16" if backend == "litert" else "keras")
    path = Path(spec)
    if not path.exists():
        raise ModelError(f"{path}: no such file or folder")
    return path


def open_predictor(spec, scale=None, backend="litert", num_threads=None):
    """(predictor, scale) for a ``--model`` value; ``scale`` None accepts the model's own."""
    if is_ncnn(spec):
        predictor = NcnnPredictor(spec, num_threads or 1)
        if scale is not None and scale != predictor.scale:
            raise ModelError(f"{spec}: the model upscales x{predictor.scale}, not x{scale}")
        return predictor, predictor.scale
    path = model_path(spec, scale, backend)
    if path.suffix == ".tflite":
        if backend != "litert":
            raise ModelError(f"{path}: a .tflite file runs on LiteRT only (not --backend {backend})")
        predictor, found = LiteRTPredictor.from_file(path, num_threads)
        if scale is not None and scale != found:
            raise ModelError(f"{path}: the model upscales x{found}, not x{scale}")
        return predictor, found
    if backend == "litert":
        return cached_conversion(path, scale, num_threads)
    from tfsr.inference.predictors import make_predictor
    from tfsr.models.loading import for_scale, load_model
    model, scale = for_scale(load_model(path), scale, str(path))
    return make_predictor(model, backend), scale


def open_upscaler(spec, scale=None, tile=None, overlap=16, ensemble=False, backend="litert", keep_grey=False):
    """(`Upscaler`, scale) for a ``--model`` value (``keep_grey``: see `Upscaler`).

    A ``.tflite`` with a fixed input size is always tiled, with tiles that
    fit its input once ``overlap`` context is added on each side.
    """
    predictor, scale = open_predictor(spec, scale, backend)
    fixed = getattr(predictor, "fixed", None)
    if fixed:
        fits = min(fixed) - 2 * overlap
        if fits < 1:
            raise ModelError(f"{spec}: its fixed {fixed[1]}x{fixed[0]} input leaves no room for "
                             f"--overlap {overlap} on each side")
        tile = min(tile or fits, fits)
    return Upscaler(predictor, scale, tile, overlap, ensemble, keep_grey), scale
