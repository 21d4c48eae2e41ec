"""Running SR models without TensorFlow: LiteRT, tiles with context, self-ensemble.

A predictor is a function from a float32 NHWC batch in [0, 255] to its SR
batch. `LiteRTPredictor` runs a ``.tflite`` file (XNNPACK on CPU); the
`Upscaler` cuts images of any size into tiles with overlapping context,
optionally averages the 8 flips/rotations (EDSR+), and handles gray and
RGBA images. This module imports NumPy and LiteRT only, so upscaling with
a ``.tflite`` file starts in well under a second.
"""
import os
from pathlib import Path

import numpy as np

from tfsr.color import as_uint8, luma
from tfsr.data.imresize import imresize
from tfsr.errors import ModelError
from tfsr.quiet import quiet_stderr

KERNELS = ("xnnpack", "reference")


def for_reference_kernels(tflite_bytes):
    """The model with its DEPTH_TO_SPACE marked version 1, which LiteRT's reference resolver registers.

    The converter marks an int8 DEPTH_TO_SPACE version 2; the reference
    resolver registers only version 1, though its kernel (a copy) handles
    int8. Nothing else changes.
    """
    from ai_edge_litert.tools import flatbuffer_utils as fb
    model = fb.read_model_from_bytearray(bytearray(tflite_bytes))
    for index, code in enumerate(model.operatorCodes):
        if fb.opcode_to_name(model, index) == "DEPTH_TO_SPACE":
            code.version = 1
    return bytes(fb.convert_object_to_bytearray(model))


class LiteRTPredictor:
    """Runs a TFLite model with the LiteRT interpreter.

    Takes float32 images in [0, 255]; quantizes them for a uint8/int8 input
    and dequantizes the output. A fixed-shape model gets smaller images
    padded (edge pixels repeated) to its size and the result cropped.
    ``kernels``: ``xnnpack`` (the default, what apps run: XNNPACK picks
    code for the CPU's instruction sets at run time) or ``reference``
    (LiteRT's portable reference kernels: slow, the same integer
    arithmetic on every CPU).
    """

    def __init__(self, tflite_bytes, num_threads=None, kernels="xnnpack"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        if kernels not in KERNELS:
            raise ValueError(f"unknown kernels {kernels!r} ({', '.join(KERNELS)})")
        self.kernels = kernels
        if kernels == "reference":
            tflite_bytes = for_reference_kernels(tflite_bytes)
        resolver = OpResolverType.BUILTIN_REF if kernels == "reference" else OpResolverType.AUTO
        self.interpreter = Interpreter(model_content=tflite_bytes, num_threads=num_threads or os.cpu_count(),
                                       experimental_op_resolver_type=resolver)
        self.input = self.interpreter.get_input_details()[0]
        signature = self.input["shape_signature"]
        self.fixed = None if (signature[1:3] < 0).any() else tuple(int(n) for n in signature[1:3])
        self._shape = None

    @classmethod
    def from_file(cls, path, num_threads=None):
        """(predictor, scale) for a ``.tflite`` file checked to be an SR model.

        Raises `ModelError` naming the file when it is not a TFLite model or
        does not map an RGB image to an RGB image s times larger.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such file")
        try:
            predictor = cls(path.read_bytes(), num_threads)
        except Exception as e:
            raise ModelError(f"{path}: not a TFLite model ({_first_line(e)})") from None
        return predictor, predictor.probe_scale(path)

    def probe_scale(self, name):
        """The upscaling factor, found by running a small (or the fixed-size) input."""
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        shape = self.input["shape_signature"]
        if len(inputs) != 1 or len(outputs) != 1 or len(shape) != 4 or shape[-1] != 3:
            raise ModelError(f"{name}: not an SR model (expects one RGB image in and one out; has "
                             f"{len(inputs)} input(s) of shape {list(shape)} and {len(outputs)} output(s))")
        h, w = self.fixed or (8, 8)
        try:
            y = self._run(np.zeros((h, w, 3), np.float32))
        except Exception as e:
            raise ModelError(f"{name}: not an SR model (fails on a {w}x{h} RGB input: {_first_line(e)})") from None
        oh, ow, c = y.shape
        if c != 3 or oh % h or ow % w or oh // h != ow // w or oh // h < 2:
            raise ModelError(f"{name}: not an SR model (maps {w}x{h}x3 to {ow}x{oh}x{c})")
        return oh // h

    def _run(self, image):
        it, inp = self.interpreter, self.input
        if self._shape != image.shape:
            it.resize_tensor_input(inp["index"], (1,) + image.shape)
            with quiet_stderr():  # the first allocation announces the XNNPACK delegate
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


def keras_predictor(model):
    """A Keras model's ``predict`` (the slowest backend; TensorFlow is already loaded with the model)."""
    return lambda x: model.predict(x, verbose=0)


def function_predictor(model):
    """A compiled ``tf.function`` of a Keras model (imports TensorFlow, which the model needs anyway)."""
    import tensorflow as tf
    fn = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
                     jit_compile=False)
    return lambda x: fn(tf.constant(x)).numpy()


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
            out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = as_uint8(core)
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
        source: what runs, for summaries (`tfsr.load` sets it).
    """

    def __init__(self, predict, scale, tile=None, overlap=16, ensemble=False, keep_grey=False, source=None):
        self.scale, self.tile, self.overlap, self.keep_grey = scale, tile, overlap, keep_grey
        self.predict = self_ensemble(predict) if ensemble else predict
        self.source = source  # what runs: a file, or a preset at a strength

    @classmethod
    def from_preset(cls, name, **options):
        """The `Upscaler` of a preset (or any model `tfsr.load` takes): keras-hub's ``from_preset``."""
        from tfsr.inference.files import load  # files builds Upscalers: imported when asked for
        return load(name, **options)

    def tiles(self, height, width):
        """How many tiles an image of this LR size is cut into."""
        if not self.tile:
            return 1
        return len(_windows(height, self.tile, self.overlap)) * len(_windows(width, self.tile, self.overlap))

    def __call__(self, image, on_tile=None):
        """Upscale an RGB (H, W, 3), gray (H, W, 1) or RGBA (H, W, 4) uint8 image.

        Gray images come back gray (the SR luma), and with ``keep_grey`` so
        do RGB images with no colour (R = G = B everywhere: a scanned print;
        what `tfsr.upscale` does, where a model's colour speckle would be a
        flaw, while scoring keeps the model's own output); alpha is upscaled
        with MATLAB bicubic and re-attached.
        """
        image = np.asarray(image)
        rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
        sr = upscale_tiled(rgb, self.predict, self.scale, self.tile, self.overlap, on_tile)
        if image.shape[-1] == 1 or (self.keep_grey and (rgb[..., :1] == rgb[..., 1:]).all()):
            gray = as_uint8(luma(sr))[..., None]
            if image.shape[-1] == 1:
                return gray
            sr = np.repeat(gray, 3, axis=-1)
        if image.shape[-1] == 4:
            alpha = imresize(image[..., 3], self.scale)
            return np.concatenate([sr, alpha[..., None]], axis=-1)
        return sr
