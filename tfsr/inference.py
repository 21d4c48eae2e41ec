"""Running a trained model on images of any size.

`load_model` reads a ``.keras`` file or a SavedModel folder; `Upscaler`
runs it through a backend (LiteRT/XNNPACK, a ``tf.function`` or Keras
``predict``), optionally with the x8 self-ensemble (EDSR+), over
tiles with overlapping context, so memory is bounded by the tile.
"""
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfsr.data.imresize import imresize
from tfsr.metrics import luma
from tfsr.models.mdsr import select_scale

BACKENDS = ("litert", "function", "keras")
DEFAULT_BACKEND = "litert"


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file."""


def load_model(path):
    """A ``.keras`` file (safe mode) or a SavedModel folder, as a Keras model.

    SavedModels are wrapped in a Keras layer calling ``serving_default``.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file or folder")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ModelError(f"{path}: not a SavedModel folder (no saved_model.pb)")
        return _saved_model_as_keras(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: not a model file (expected a .keras file or a SavedModel folder)")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: cannot be loaded as a Keras model ({first_line})") from None
    _check_sr_model(model, path)
    return model


def _saved_model_as_keras(path):
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ModelError(f"{path}: SavedModel has no serving_default signature")
    signature = loaded.signatures["serving_default"]
    input_name = next(iter(signature.structured_input_signature[1]))
    output_name = next(iter(signature.structured_outputs))
    input_dtype = signature.structured_input_signature[1][input_name].dtype

    class SavedModelLayer(keras.layers.Layer):
        def call(self, x):
            y = signature(**{input_name: tf.cast(x, input_dtype)})[output_name]
            return tf.cast(y, tf.float32)

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, SavedModelLayer()(inputs), name=path.name)
    model._tfsr_saved_model = loaded  # keep the variables alive
    _check_sr_model(model, path)
    return model


def _check_sr_model(model, path):
    shape = model.inputs[0].shape if len(model.inputs) == 1 else None
    if shape is None or len(shape) != 4 or shape[-1] != 3:
        raise ModelError(f"{path}: not a tfsr model (expects one RGB image input, has "
                         f"{[tuple(t.shape) for t in model.inputs]})")
    model_scales(model, path)


def model_scales(model, path=None):
    """{scale: output index} found by running the model on a small input."""
    probe = np.zeros((1, 8, 8, 3), np.float32)
    try:
        outputs = model(probe)
    except Exception as e:
        raise ModelError(f"{path or model.name}: not a tfsr model (fails on an 8x8 RGB input: "
                         f"{type(e).__name__})") from None
    outputs = list(outputs.values()) if isinstance(outputs, dict) else keras.tree.flatten(outputs)
    scales = {}
    for i, y in enumerate(outputs):
        h, w, c = y.shape[1:]
        if c != 3 or h != w or h % 8 or h < 16:
            raise ModelError(f"{path or model.name}: not a tfsr model (maps 8x8x3 to {h}x{w}x{c})")
        scales[h // 8] = i
    return scales


def for_scale(model, scale=None, path=None):
    """The single-output model for ``scale`` (checked), and that scale.

    ``scale=None`` accepts a single-scale model as it is.
    """
    scales = model_scales(model, path)
    name = path or model.name
    if scale is None:
        if len(scales) > 1:
            raise ModelError(f"{name}: a multi-scale model (x{', x'.join(map(str, scales))}); "
                             f"choose one with --scale")
        scale = next(iter(scales))
    if scale not in scales:
        raise ModelError(f"{name}: the model upscales x{', x'.join(map(str, scales))}, not x{scale}")
    if len(scales) > 1:
        model = select_scale(model, scale)
    return model, scale


# --- backends: float32 NHWC batch in [0, 255] -> float32 NHWC batch ---

def keras_predictor(model):
    return lambda x: model.predict(x, verbose=0)


def function_predictor(model):
    fn = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
                     jit_compile=False)
    return lambda x: fn(tf.constant(x)).numpy()


class LiteRTPredictor:
    """Runs a TFLite model with the LiteRT interpreter (XNNPACK on CPU).

    Takes float32 images in [0, 255]; quantizes them for a uint8/int8 input
    and dequantizes the output. A fixed-shape model gets smaller images
    padded (edge pixels repeated) to its size and the result cropped.
    """

    def __init__(self, tflite_bytes, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter
        self.interpreter = Interpreter(model_content=tflite_bytes, num_threads=num_threads or os.cpu_count())
        self.input = self.interpreter.get_input_details()[0]
        signature = self.input["shape_signature"]
        self.fixed = None if (signature[1:3] < 0).any() else tuple(int(n) for n in signature[1:3])
        self._shape = None

    def _run(self, image):
        it, inp = self.interpreter, self.input
        if self._shape != image.shape:
            it.resize_tensor_input(inp["index"], (1,) + image.shape)
            it.allocate_tensors()
            self._shape = image.shape
        x = image[None]
        if np.issubdtype(inp["dtype"], np.integer):
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.floor(x / scale + zero + 0.5), info.min, info.max)
        it.set_tensor(inp["index"], x.astype(inp["dtype"]))
        it.invoke()
        out = it.get_output_details()[0]
        y = it.get_tensor(out["index"])[0].astype(np.float32)
        if np.issubdtype(out["dtype"], np.integer):
            scale, zero = out["quantization"]
            y = (y - zero) * scale
        return y

    def __call__(self, x):
        outputs = []
        for image in x:  # the converted model takes one image at a time
            if self.fixed is None:
                outputs.append(self._run(image))
                continue
            h, w = image.shape[:2]
            if h > self.fixed[0] or w > self.fixed[1]:
                raise ValueError(f"{h}x{w} input is larger than the model's fixed {self.fixed[0]}x{self.fixed[1]}")
            padded = np.pad(image, ((0, self.fixed[0] - h), (0, self.fixed[1] - w), (0, 0)), mode="edge")
            sr = self._run(padded)
            s = sr.shape[0] // self.fixed[0]
            outputs.append(sr[:h * s, :w * s])
        return np.stack(outputs)


def make_predictor(model, backend=DEFAULT_BACKEND):
    """A function running ``model`` on a float32 NHWC batch with ``backend``."""
    if backend == "keras":
        return keras_predictor(model)
    if backend == "function":
        return function_predictor(model)
    if backend == "litert":
        # Imported here: export builds on inference, not the other way round.
        from tfsr.export import tflite_float32
        return LiteRTPredictor(tflite_float32(model))
    raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


def _dihedral(x, k, flip):
    x = x[:, :, ::-1] if flip else x
    return np.rot90(x, k, axes=(1, 2))


def _dihedral_inverse(y, k, flip):
    y = np.rot90(y, -k, axes=(1, 2))
    return y[:, :, ::-1] if flip else y


def self_ensemble(predict):
    """EDSR+ geometric self-ensemble: mean over the 8 flips/rotations."""
    def ensembled(x):
        total = 0
        for flip in (False, True):
            for k in range(4):
                y = predict(np.ascontiguousarray(_dihedral(x, k, flip)))
                total = total + _dihedral_inverse(y, k, flip)
        return total / 8
    return ensembled


def _windows(length, tile, margin):
    """(core start, core end, window start, window end) along one axis.

    Cores of ``tile`` pixels cover the axis; each window adds ``margin``
    pixels of context on both sides (shifted inwards at the borders so all
    windows have the same size when the axis is long enough).
    """
    size = min(length, tile + 2 * margin)
    spans = []
    for start in range(0, length, tile):
        end = min(start + tile, length)
        window = min(max(start - margin, 0), length - size)
        spans.append((start, end, window, window + size))
    return spans


def upscale_tiled(image, predict, scale, tile=None, margin=16, on_tile=None):
    """Upscale an (H, W, 3) image tile by tile; returns uint8 (sH, sW, 3).

    Each LR tile is run with ``margin`` pixels of context on every side, and
    only its centre is kept, so a tile's output differs from the untiled
    result only by what lies beyond the margin (nothing, once the margin
    covers the network's receptive field). Memory is bounded by the tile.
    """
    image = np.asarray(image, np.float32)
    h, w, _ = image.shape
    rows = _windows(h, tile or h, margin if tile else 0)
    cols = _windows(w, tile or w, margin if tile else 0)
    out = np.empty((h * scale, w * scale, 3), np.uint8)
    for y0, y1, wy0, wy1 in rows:
        for x0, x1, wx0, wx1 in cols:
            sr = predict(image[None, wy0:wy1, wx0:wx1])[0]
            core = sr[(y0 - wy0) * scale:(y1 - wy0) * scale, (x0 - wx0) * scale:(x1 - wx0) * scale]
            out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = np.clip(np.floor(core + 0.5), 0, 255)
            if on_tile:
                on_tile()
    return out


class Upscaler:
    """Upscale images of any size with a predictor (see `make_predictor`).

    Args:
        predict: function from a float32 NHWC batch in [0, 255] to its SR batch.
        scale: the predictor's scale factor.
        tile: LR tile size (None runs the whole image at once).
        overlap: LR context added around each tile and cropped off after.
        ensemble: average the 8 flips/rotations (EDSR+), 8x slower.
    """

    def __init__(self, predict, scale, tile=None, overlap=16, ensemble=False):
        self.scale, self.tile, self.overlap = scale, tile, overlap
        self.predict = self_ensemble(predict) if ensemble else predict

    @classmethod
    def from_model(cls, model, scale, tile=None, overlap=16, ensemble=False, backend=DEFAULT_BACKEND):
        """An upscaler running a single-scale Keras model through ``backend``:
        ``"litert"`` (fastest on CPU, the default), ``"function"`` or ``"keras"``."""
        return cls(make_predictor(model, backend), scale, tile, overlap, ensemble)

    def tiles(self, height, width):
        """How many tiles an image of this LR size is cut into."""
        if not self.tile:
            return 1
        return len(_windows(height, self.tile, self.overlap)) * len(_windows(width, self.tile, self.overlap))

    def __call__(self, image, on_tile=None):
        """Upscale an RGB (H, W, 3), gray (H, W, 1) or RGBA (H, W, 4) uint8 image.

        Gray images come back gray (the SR luma); alpha is upscaled with
        MATLAB bicubic and re-attached.
        """
        image = np.asarray(image)
        rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
        sr = upscale_tiled(rgb, self.predict, self.scale, self.tile, self.overlap, on_tile)
        if image.shape[-1] == 1:
            return np.clip(np.floor(luma(sr) + 0.5), 0, 255).astype(np.uint8)[..., None]
        if image.shape[-1] == 4:
            alpha = imresize(image[..., 3], self.scale)
            return np.concatenate([sr, alpha[..., None]], axis=-1)
        return sr
