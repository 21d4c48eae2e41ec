"""The one way in: what a ``--model`` value names, resolved, loaded and returned as a runnable `Upscaler`.

    upscaler = tfsr.load("wdsr_b_x4_real")            # a preset, the file that runs fastest here
    upscaler = tfsr.load("my_preset", strength=0.5)     # a preset with a fidelity partner, half way
    upscaler = tfsr.load("runs/x4/best.keras")          # a .keras file, SavedModel, .tflite, or ncnn model
    sr = upscaler(image)

A preset runs its verified int8 ``.tflite`` where the CPU has int8 dot
products (VNNI, AMX, ARM's dot products) and the file passed its checks,
else its float16 ``.tflite`` (``precision`` chooses). A preset with a
partner takes a ``strength``: its weights blended with the partner's, one
network (`tfsr.models.interpolation`). On the LiteRT backend a Keras model
(or a blend) is converted once and the ``.tflite`` kept in a cache keyed by
the files' content, so later calls start without TensorFlow. The cache is
``$TFSR_CACHE``, else ``$XDG_CACHE_HOME/tfsr``, else ``~/.cache/tfsr``; a
corrupt entry is rebuilt, and a read-only cache only costs the conversion.
"""
import contextlib
import hashlib
import json
import os
from pathlib import Path

from tfsr import __version__
from tfsr.data.images import atomic_output
from tfsr.errors import ModelError
from tfsr.inference.cpu import has_int8_dot_products
from tfsr.inference.ncnn import NcnnPredictor, is_ncnn
from tfsr.inference.runtime import LiteRTPredictor, Upscaler
from tfsr.models.presets import PRESETS, PresetError, get_preset, is_preset, not_found, preset_file

CONVERSION = "float32-v1"  # bump when the conversion changes: old cache entries are then ignored
PRECISIONS = ("auto", "float32", "int8")


def cache_dir():
    if os.environ.get("TFSR_CACHE"):
        return Path(os.environ["TFSR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tfsr"


def content_key(paths, scale, recipe=""):
    """SHA-256 of model files (every file of a SavedModel folder), the scale, a recipe and the conversion."""
    digest = hashlib.sha256(f"tfsr {__version__} {CONVERSION} x{scale} {recipe}".encode())
    for path in [paths] if isinstance(paths, Path) else paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path)).encode() if path.is_dir() else b"")
            digest.update(file.read_bytes())
    return digest.hexdigest()


def cached_conversion(paths, scale, num_threads=None, make_model=None, recipe=""):
    """(LiteRT predictor, scale) of a Keras model, converted once and cached.

    ``paths`` are the files it is made from; ``make_model()`` makes it (default: load the one path), and
    ``recipe`` says how, for the cache key.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    cached = cache_dir() / f"{content_key(paths, scale, recipe)}.tflite"
    if cached.is_file():
        try:
            return LiteRTPredictor.from_file(cached, num_threads)
        except ModelError:
            with contextlib.suppress(OSError):  # a read-only cache keeps its corrupt entry; it is not used
                cached.unlink(missing_ok=True)  # corrupt entry: rebuild it
    from tfsr.inference.convert import tflite_float32
    from tfsr.models.loading import for_scale, load_model
    model = make_model() if make_model else load_model(paths[0])
    model, scale = for_scale(model, scale, str(paths[0]))
    data = tflite_float32(model)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cached) as tmp:
            tmp.write_bytes(data)
    except OSError:
        pass  # read-only or full cache: use the conversion without keeping it
    return LiteRTPredictor(data, num_threads), scale


def verified_int8(name):
    """A preset's int8 file if it is on this machine and its report says it passed its checks, else None."""
    try:
        path = preset_file(name, "int8")
    except PresetError:
        return None
    report = path.with_name(path.name + ".json")
    try:
        return path if json.loads(report.read_text()).get("passed") else None
    except (OSError, ValueError):
        return None


def preset_path(name, scale=None, backend="litert", precision="auto"):
    """The file of a preset that runs: int8 (``precision`` auto where int8 is fast here, or int8), float16
    ``.tflite`` (float32 compute) on LiteRT, its ``.keras`` on the other backends."""
    preset = get_preset(name)
    if scale is not None and scale != preset.scale:
        raise ModelError(f"{name}: this preset upscales x{preset.scale}, not x{scale}")
    if precision not in PRECISIONS:
        raise ModelError(f"--precision is one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend != "litert":
        return preset_file(name, "keras")
    if precision != "float32":
        int8 = verified_int8(name)
        if int8 is not None and (precision == "int8" or has_int8_dot_products()):
            return int8
        if precision == "int8":
            raise ModelError(f"{name}: no verified int8 file on this machine (make one with tfsr-export {name} "
                             f"OUT.tflite --quantize int8)")
    return preset_file(name, "float16")


def model_path(spec, scale=None, backend="litert", precision="auto"):
    """The file a ``--model`` value names: a preset's (`preset_path`) or the path itself; `ModelError` if none."""
    if is_preset(spec):
        return preset_path(spec, scale, backend, precision)
    path = Path(spec)
    if not path.exists():
        raise ModelError(not_found(spec))
    return path


def _blend(name, strength, scale, backend, num_threads):
    """(predictor, scale) of preset ``name`` blended with its partner at ``strength`` (0 < strength < 1)."""
    from tfsr.models.loading import pretrained
    files = [preset_file(name, "keras"), preset_file(get_preset(name).partner, "keras")]
    if backend == "litert":
        return cached_conversion(files, scale, num_threads, lambda: pretrained(name, strength), f"strength {strength!r}")
    from tfsr.inference.predictors import make_predictor
    from tfsr.models.loading import for_scale
    model, scale = for_scale(pretrained(name, strength), scale, name)
    return make_predictor(model, backend), scale


def _shipped_at(name, strength, backend):
    """Whether a file of preset ``name`` is that network at ``strength``: its ``.tflite`` files are made at its
    default strength (what an app runs), its ``.keras`` file is strength 1 (the network the slider blends)."""
    return strength == get_preset(name).strength if backend == "litert" else strength == 1.0


def strength_of(spec, strength):
    """The strength a preset runs at: ``strength``, else its default; `ModelError` where there is no slider."""
    partner = is_preset(spec) and get_preset(spec).partner
    if strength is None:
        return get_preset(spec).strength if partner else None
    if not partner:
        with_slider = ", ".join(p.name for p in PRESETS.values() if p.partner) or "none yet"
        raise ModelError(f"{spec}: --strength needs a preset with a fidelity partner ({with_slider})")
    if not 0.0 <= strength <= 1.0:
        raise ModelError(f"--strength {strength}: must be between 0 (faithful) and 1 (the most detail)")
    return float(strength)


def open_predictor(spec, scale=None, backend="litert", num_threads=None, precision="auto", strength=None):
    """(predictor, scale, the file or blend that runs) for a ``--model`` value; ``scale`` None accepts the
    model's own."""
    if is_ncnn(spec):
        predictor = NcnnPredictor(spec, num_threads or 1)
        if scale is not None and scale != predictor.scale:
            raise ModelError(f"{spec}: the model upscales x{predictor.scale}, not x{scale}")
        return predictor, predictor.scale, str(spec)
    strength = strength_of(spec, strength)
    if strength == 0.0:
        spec = get_preset(spec).partner
    elif strength is not None and not _shipped_at(spec, strength, backend):
        if precision == "int8":
            raise ModelError(f"{spec} at strength {strength:g}: no int8 file (make one with tfsr-export {spec} "
                             f"OUT.tflite --strength {strength:g} --quantize int8)")
        predictor, scale = _blend(spec, strength, scale, backend, num_threads)
        return predictor, scale, f"{spec} at strength {strength:g}"
    path = model_path(spec, scale, backend, precision)
    if path.suffix == ".tflite":
        if backend != "litert":
            raise ModelError(f"{path}: a .tflite file runs on LiteRT only (not --backend {backend})")
        predictor, found = LiteRTPredictor.from_file(path, num_threads)
        if scale is not None and scale != found:
            raise ModelError(f"{path}: the model upscales x{found}, not x{scale}")
        return predictor, found, str(path)
    if backend == "litert":
        return (*cached_conversion(path, scale, num_threads), str(path))
    from tfsr.inference.predictors import make_predictor
    from tfsr.models.loading import for_scale, load_model
    model, scale = for_scale(load_model(path), scale, str(path))
    return make_predictor(model, backend), scale, str(path)


def load(spec, scale=None, *, strength=None, precision="auto", tile=256, overlap=16, ensemble=False,
         backend="litert", keep_grey=False, num_threads=None):
    """A runnable `Upscaler` for a preset name, a model file or an ncnn model, resolved and loaded in one pass.

    ``scale`` picks an MDSR branch and is checked against single-scale models;
    ``strength`` (presets with a partner) goes from the partner's fidelity (0)
    to the preset's detail (1); ``precision``: auto, float32 or int8 (presets);
    ``tile``/``overlap``: LR tiles with context (None: the whole image);
    ``keep_grey``: see `Upscaler`. A ``.tflite`` with a fixed input size is
    always tiled, with tiles that fit its input once ``overlap`` context is
    added on each side. ``upscaler.source`` names what runs.
    """
    predictor, scale, source = open_predictor(spec, scale, backend, num_threads, precision, strength)
    fixed = getattr(predictor, "fixed", None)
    if fixed:
        fits = min(fixed) - 2 * overlap
        if fits < 1:
            raise ModelError(f"{spec}: its fixed {fixed[1]}x{fixed[0]} input leaves no room for "
                             f"--overlap {overlap} on each side")
        tile = min(tile or fits, fits)
    return Upscaler(predictor, scale, tile, overlap, ensemble, keep_grey, source=source)
