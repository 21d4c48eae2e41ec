"""ncnn ``.param``/``.bin`` files of Real-ESRGAN's compact net (SRVGG) as tfsr weights.

Real-ESRGAN ships its phone-size models (realesr-general-x4v3,
realesr-animevideov3) as ncnn files. The ``.param`` file is text: one layer
a line, ``Type name inputs outputs blobs... key=value...``. The ``.bin`` file
is the layers' weights in that order, with no names: a convolution's kernel
behind a 4-byte tag (``0x01306B47``: float16; 0: float32), then its bias as
raw float32; a PReLU's slopes as raw float32. Only numbers are read.

The graph must be SRVGG's: a chain of 3×3 convolutions each followed by a
PReLU, a last convolution, a pixel shuffle, plus the nearest-upscaled input.
Anything else is refused with a one-line `WeightsError`.
"""
from pathlib import Path

import numpy as np

from tfsr.errors import ModelError
from tfsr.importers.common import WeightsError, shuffle_permutation, to_hwio
from tfsr.ncnn_param import read_param

_FLOAT16_TAG = 0x01306B47
_NEAREST = 1  # ncnn Interp resize_type
_SKIPPED = ("Input", "Split")


class _Bin:
    """The ``.bin`` file read front to back, as ncnn's ModelBin does."""

    def __init__(self, path):
        self.path, self.data, self.at = path, Path(path).read_bytes(), 0

    def _take(self, size):
        if self.at + size > len(self.data):
            raise WeightsError(f"{self.path}: ends early ({len(self.data)} bytes; the .param file needs more)")
        chunk = self.data[self.at:self.at + size]
        self.at += size
        return chunk

    def raw(self, count):
        return np.frombuffer(self._take(4 * count), "<f4").astype(np.float32)

    def tagged(self, count):
        tag = int.from_bytes(self._take(4), "little")
        if tag == _FLOAT16_TAG:
            values = np.frombuffer(self._take(2 * count), "<f2").astype(np.float32)
            self._take((-2 * count) % 4)  # padded to 4 bytes
            return values
        if tag == 0:
            return self.raw(count)
        raise WeightsError(f"{self.path}: weights stored as {tag:#010x}, not float32 or float16 (quantized "
                           f"ncnn files are not read)")

    def check_used_up(self):
        if self.at != len(self.data):
            raise WeightsError(f"{self.path}: {len(self.data) - self.at} bytes left over after the .param "
                               f"file's weights")


def _int(options, key, default):
    return int(float(options.get(key, default)))


def _convolution(name, options, weights, param):
    out, kernel = _int(options, "0", 0), _int(options, "1", 0)
    if (_int(options, "11", kernel) != kernel or kernel != 3 or _int(options, "3", 1) != 1
            or _int(options, "2", 1) != 1 or _int(options, "4", 0) != 1 or _int(options, "5", 0) != 1
            or _int(options, "9", 0) != 0):
        raise WeightsError(f"{param}: layer {name} is not a 3x3, stride 1, pad 1 convolution with a bias")
    size = _int(options, "6", 0)
    if size % (out * kernel * kernel):
        raise WeightsError(f"{param}: layer {name}'s weight size {size} does not fit {out} outputs of 3x3")
    channels = size // (out * kernel * kernel)
    kernel_oihw = weights.tagged(size).reshape(out, channels, kernel, kernel)
    return to_hwio(kernel_oihw), weights.raw(out)


def srvgg_weights(param):
    """(hyperparameters, scale, {layer name: weights}) of an SRVGG network in ncnn files.

    ``weights`` maps tfsr's layer names (`tfsr.models.srvgg`) to (kernel, bias)
    for convolutions and to the slopes for PReLUs.
    """
    param = Path(param)
    bin_path = param.with_suffix(".bin")
    if not bin_path.is_file():
        raise WeightsError(f"{param}: its weights {bin_path.name} are not beside it")
    weights, found = _Bin(bin_path), {}
    convs, prelus, scale, upscaled = [], [], None, None
    try:
        layers = read_param(param)
    except ModelError as e:
        raise WeightsError(str(e)) from None
    for layer in layers:
        kind, name, options = layer.kind, layer.name, layer.options
        if kind in _SKIPPED:
            continue
        if kind == "Convolution":
            convs.append(_convolution(name, options, weights, param))
        elif kind == "PReLU":
            if len(prelus) != len(convs) - 1:
                raise WeightsError(f"{param}: layer {name}: a PReLU must follow each convolution but the last")
            prelus.append(weights.raw(_int(options, "0", 1)))
        elif kind == "PixelShuffle":
            if _int(options, "1", 0) != 0:
                raise WeightsError(f"{param}: layer {name}: only PyTorch's pixel shuffle order (mode 0) is read")
            scale = _int(options, "0", 1)
        elif kind == "Interp":
            if _int(options, "0", 0) != _NEAREST:
                raise WeightsError(f"{param}: layer {name}: the input must be upscaled nearest-neighbour")
            upscaled = float(options.get("1", 0))
        elif kind == "BinaryOp" and _int(options, "0", 0) == 0:  # add
            continue
        else:
            raise WeightsError(f"{param}: layer {name} ({kind}) is not part of an SRVGG network")
    weights.check_used_up()
    if len(convs) < 3 or len(prelus) != len(convs) - 1 or scale is None or upscaled != scale:
        raise WeightsError(f"{param}: not an SRVGG network (convolutions, PReLUs, a pixel shuffle and a "
                           f"nearest upscale of the input by the same factor)")
    features = convs[0][0].shape[-1]
    head, body, (tail_kernel, tail_bias) = convs[0], convs[1:-1], convs[-1]
    if tail_kernel.shape[-1] != 3 * scale * scale:
        raise WeightsError(f"{param}: the last convolution gives {tail_kernel.shape[-1]} channels, "
                           f"not 3·{scale}² for RGB")
    order = shuffle_permutation(tail_kernel.shape[-1], scale)
    found["head"], found["head_prelu"] = head, prelus[0]
    for i, (conv, slopes) in enumerate(zip(body, prelus[1:])):
        found[f"body_conv{i}"], found[f"body_prelu{i}"] = conv, slopes
    found["tail"] = (tail_kernel[..., order], tail_bias[order])
    return {"features": features, "convs": len(body)}, scale, found
