import json

import keras
import numpy as np
import pytest
from conftest import random_image
from PIL import Image

from tfsr import upscale as upscale_cli
from tfsr.data import imresize
from tfsr.inference import LiteRTPredictor, Upscaler, make_predictor, self_ensemble, upscale_tiled, upscaler
from tfsr.models import ModelError, build, for_scale, load_model
from tfsr.models.presets import preset_file


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    keras.utils.set_random_seed(3)
    model = build("wdsr_a", 2, blocks=2, features=8)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


def test_tiled_upscale_equals_untiled(rng):
    keras.utils.set_random_seed(0)
    model = build("edsr_baseline", 4)  # receptive field of ±35 LR pixels: the margin matters
    predict = make_predictor(model, "function")
    image = random_image(rng, 70, 90)
    whole = upscale_tiled(image, predict, 4)
    tiled = upscale_tiled(image, predict, 4, tile=32, margin=16)
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.max() <= 1
    assert 10 * np.log10(255 ** 2 / max(np.mean(diff ** 2.0), 1e-12)) >= 50


def test_backends_agree(tiny_model, rng):
    model = load_model(tiny_model)
    image = random_image(rng, 21, 27)[None].astype(np.float32)
    outputs = {b: np.clip(make_predictor(model, b)(image), 0, 255) for b in ("litert", "function", "keras")}
    for backend in ("litert", "keras"):  # (the LiteRT graph clips to [0, 255] itself)
        assert np.abs(outputs[backend] - outputs["function"]).max() <= 1.0, backend


def test_self_ensemble_averages_the_eight_transforms(rng):
    x = rng.uniform(0, 1, (1, 5, 7, 3))
    assert np.allclose(self_ensemble(lambda t: t * 2)(x), x * 2)  # equivariant: unchanged
    corner = lambda t: np.broadcast_to(t[:, :1, :1], t.shape)  # not equivariant: averages 4 corners
    corners = np.mean([x[0, 0, 0], x[0, 0, -1], x[0, -1, 0], x[0, -1, -1]], axis=0)
    assert np.allclose(self_ensemble(corner)(x)[0, 2, 3], corners)


def test_gray_and_alpha_images(tiny_model, rng):
    model, scale = for_scale(load_model(tiny_model))
    upscale = upscaler(model, scale, backend="function")
    gray = random_image(rng, 12, 10, 1)
    out = upscale(gray)
    assert out.shape == (24, 20, 1)
    rgb = upscale(np.repeat(gray, 3, -1)).astype(np.float64)
    luma = rgb @ (np.array([65.481, 128.553, 24.966]) / 219)
    assert np.abs(out[..., 0] - luma).max() <= 0.5 + 1e-9
    rgba = np.concatenate([random_image(rng, 12, 10), random_image(rng, 12, 10, 1)], -1)
    out = upscale(rgba)
    assert out.shape == (24, 20, 4)
    assert np.array_equal(out[..., 3], imresize(rgba[..., 3], 2))


def test_an_rgb_image_without_colour_comes_back_without_colour_and_with_the_models_luma(rng):
    """A scanned print saved as RGB: tfsr-upscale (keep_grey) returns it grey where the model tints it (a GAN's
    colour speckle), Y unchanged; scoring (the default) keeps the model's own output."""
    from tfsr.color import rgb_to_y
    from tfsr.inference import Upscaler
    tint = lambda x: np.repeat(np.repeat(x, 2, 1), 2, 2) + np.array([9.0, -4.0, 6.0], np.float32)
    grey = np.repeat(random_image(rng, 12, 10, 1), 3, -1)
    raw, out = tint(grey[None].astype(np.float32))[0], Upscaler(tint, 2, keep_grey=True)(grey)
    assert np.abs(raw[..., 0] - raw[..., 1]).max() == 13  # the model alone tints
    raw = np.clip(np.floor(raw + 0.5), 0, 255)  # as an RGB image comes back: whole levels in [0, 255]
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    # Y, what PSNR is scored on, is the model's up to rounding the luma to whole grey levels
    assert np.abs(rgb_to_y(out) - rgb_to_y(raw)).max() <= 0.5 * 219 / 255 + 1e-9
    alpha = random_image(rng, 12, 10, 1)
    with_alpha = Upscaler(tint, 2, keep_grey=True)(np.concatenate([grey, alpha], -1))  # transparency is kept
    assert np.array_equal(with_alpha[..., :3], out) and np.array_equal(with_alpha[..., 3], imresize(alpha[..., 0], 2))
    assert np.array_equal(Upscaler(tint, 2)(grey), np.clip(raw, 0, 255).astype(np.uint8))
    colour = random_image(rng, 12, 10)
    coloured = np.clip(tint(colour[None].astype(np.float32))[0], 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(Upscaler(tint, 2, keep_grey=True)(colour), coloured)


def test_model_errors_are_clear(tmp_path, tiny_model):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="junk.keras: cannot be loaded as a Keras model"):
        load_model(junk)
    inputs = keras.Input((None, None, 1))
    keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs)).save(tmp_path / "gray.keras")
    with pytest.raises(ModelError, match="gray.keras: not a tfsr model"):
        load_model(tmp_path / "gray.keras")
    with pytest.raises(ModelError, match="upscales x2, not x3"):
        for_scale(load_model(tiny_model), 3, tiny_model)
    (tmp_path / "weights.h5").write_text("x")
    with pytest.raises(ModelError, match="weights.h5: not a model file"):
        load_model(tmp_path / "weights.h5")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ModelError, match="not a SavedModel folder"):
        load_model(tmp_path / "folder")


def test_multi_scale_model_needs_a_scale(tmp_path):
    build("mdsr_baseline", None, blocks=1, features=8).save(tmp_path / "mdsr.keras")
    model = load_model(tmp_path / "mdsr.keras")
    with pytest.raises(ModelError, match="multi-scale model \\(x2, x3, x4\\); choose one with --scale"):
        for_scale(model)
    branch, scale = for_scale(model, 3)
    assert scale == 3 and tuple(branch(np.zeros((1, 4, 5, 3), "float32")).shape) == (1, 12, 15, 3)


def test_upscale_cli_processes_good_files_and_reports_bad_ones(tmp_path, tiny_model, rng, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(random_image(rng, 30, 20)).save(src / "photo.jpg")
    Image.fromarray(random_image(rng, 16, 16, 1)[..., 0]).save(src / "gray.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (src / "notes.txt").write_text("not an image")
    status = upscale_cli.main(["--model", str(tiny_model), str(src), str(tmp_path / "missing.png"),
                               "--output", str(tmp_path / "out"), "--tile", "8", "--backend", "function"])
    assert status == 1
    err = capsys.readouterr().err
    for name in ("broken.png: not a readable image", "notes.txt: unsupported format", "missing.png: no such file"):
        assert name in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gray.png", "photo.png"]
    assert Image.open(tmp_path / "out" / "photo.png").size == (40, 60)
    assert Image.open(tmp_path / "out" / "gray.png").mode == "L"


# --- presets, .tflite models and the TensorFlow-free upscaler ---

def run_python(code, **env):
    """Run Python code in a fresh process (imports and start-up measured from scratch)."""
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={**os.environ, **env})


NOISE = ("cuInit", "absl::InitializeLog", "XNNPACK", "I0000", "E0000", "W0000", "cuda")


@pytest.fixture(scope="module")
def tiny_tflite(tiny_model, tmp_path_factory):
    from tfsr.inference.convert import tflite_float32
    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    path.write_bytes(tflite_float32(for_scale(load_model(tiny_model))[0]))
    return path


def test_presets_resolve_and_missing_ones_say_how_to_get_them(tmp_path, monkeypatch):
    from tfsr.models import presets, pretrained
    model = pretrained("wdsr_b_x4")
    assert model.name == "wdsr_b_x4" and tuple(model(np.zeros((1, 6, 5, 3), "float32")).shape) == (1, 24, 20, 3)
    with pytest.raises(presets.PresetError, match="unknown preset 'edsr_x9'; presets: wdsr_b_x2"):
        presets.preset_file("edsr_x9")
    monkeypatch.setattr(presets, "search_path", lambda: [tmp_path])
    with pytest.raises(presets.PresetError, match=r"wdsr_b_x3\.keras: preset wdsr_b_x3 is not on this machine"
                                                  r".*the tfsr wheel.*`pip install -e \.`"):
        pretrained("wdsr_b_x3")


def test_upscale_without_model_uses_the_shipped_tflite_without_tensorflow(tmp_path, rng):
    from tfsr.inference.cpu import has_int8_dot_products
    Image.fromarray(random_image(rng, 24, 20)).save(tmp_path / "photo.png")
    photo = np.asarray(Image.open(tmp_path / "photo.png"))
    for precision in ("auto", "float32"):
        out = run_python(f"""
import sys
from tfsr import upscale
status = upscale.main([{str(tmp_path / 'photo.png')!r}, "--output", {str(tmp_path / precision)!r},
                       "--precision", {precision!r}])
print("status", status, "tensorflow" in sys.modules, "keras" in sys.modules)
""")
        assert out.stdout.strip().splitlines()[-1] == "status 0 False False"
        assert not any(word in out.stderr for word in NOISE), out.stderr
        fmt = "int8" if precision == "auto" and has_int8_dot_products() else "float16"
        assert f"with {preset_file('wdsr_b_x4', fmt)}" in out.stdout  # the summary names the file that ran
        sr = np.asarray(Image.open(tmp_path / precision / "photo.png"))
        assert sr.shape == (96, 80, 3)
        np.testing.assert_array_equal(sr, Upscaler(LiteRTPredictor.from_file(preset_file("wdsr_b_x4", fmt))[0], 4)(photo))
    # the float file gives the shipped Keras model's pixels (float16 weights: within a grey level)
    keras_sr = upscaler(load_model("wdsr_b_x4"), 4, backend="function")(photo)
    assert np.abs(np.asarray(Image.open(tmp_path / "float32" / "photo.png")).astype(int) - keras_sr).max() <= 1


def test_a_preset_runs_its_verified_int8_file_only_where_int8_is_fast(tmp_path, monkeypatch):
    from tfsr.inference import files
    from tfsr.models import presets
    for name in ("wdsr_b_x4.keras", "wdsr_b_x4_float16.tflite", "wdsr_b_x4_int8.tflite"):
        (tmp_path / name).write_bytes(b"model")
    report = tmp_path / "wdsr_b_x4_int8.tflite.json"
    monkeypatch.setattr(presets, "search_path", lambda: [tmp_path])
    monkeypatch.setattr(files, "preset_file", presets.preset_file)
    for fast, passed, expected in ((True, True, "int8"), (False, True, "float16"), (True, False, "float16")):
        monkeypatch.setattr(files, "has_int8_dot_products", lambda fast=fast: fast)
        report.write_text(json.dumps({"passed": passed}))
        assert files.preset_path("wdsr_b_x4").name == f"wdsr_b_x4_{expected}.tflite"
        assert files.preset_path("wdsr_b_x4", precision="float32").name == "wdsr_b_x4_float16.tflite"
    report.unlink()  # no report: not verified
    monkeypatch.setattr(files, "has_int8_dot_products", lambda: True)
    assert files.preset_path("wdsr_b_x4").name == "wdsr_b_x4_float16.tflite"
    with pytest.raises(ModelError, match="no verified int8 file on this machine"):
        files.preset_path("wdsr_b_x4", precision="int8")


def test_keras_models_are_converted_once_and_cached(tmp_path, tiny_model, rng):
    from tfsr.inference.files import content_key
    Image.fromarray(random_image(rng, 12, 12)).save(tmp_path / "a.png")
    code = f"""
import sys
from tfsr import upscale
upscale.main(["--model", {str(tiny_model)!r}, {str(tmp_path / 'a.png')!r}, "--output", {str(tmp_path / 'sr')!r}])
print("tensorflow" in sys.modules)
"""
    cache = tmp_path / "cache"
    assert run_python(code, TFSR_CACHE=str(cache)).stdout.split()[-1] == "True"  # first call converts
    entry = cache / f"{content_key(tiny_model, None)}.tflite"
    assert entry.is_file()
    first = np.asarray(Image.open(tmp_path / "sr" / "a.png"))
    assert run_python(code, TFSR_CACHE=str(cache)).stdout.split()[-1] == "False"  # then LiteRT alone
    entry.write_bytes(b"corrupt")
    assert run_python(code, TFSR_CACHE=str(cache)).stdout.split()[-1] == "True"  # rebuilt
    assert entry.stat().st_size > 1000
    assert np.array_equal(np.asarray(Image.open(tmp_path / "sr" / "a.png")), first)
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")  # an unusable cache location only costs the conversion
    assert run_python(code, TFSR_CACHE=str(blocked / "sub")).returncode == 0


def test_evaluate_and_upscale_take_tflite_files(tmp_path, tiny_model, tiny_tflite, rng, capsys):
    from tfsr import evaluate as evaluate_cli
    from tfsr.data import sample
    from tfsr.evaluation import evaluate
    from tfsr.inference.files import load
    upscale = load(str(tiny_tflite), tile=None)
    assert upscale.scale == 2 and upscale.source == str(tiny_tflite)
    keras_scores = evaluate(sample(2, "valid"), upscaler(for_scale(load_model(tiny_model))[0], 2,
                                                          backend="function"), progress=False)
    tflite_scores = evaluate(sample(2, "valid"), upscale, progress=False)
    assert tflite_scores.psnr == pytest.approx(keras_scores.psnr, abs=0.01)
    evaluate_cli.main(["--model", str(tiny_tflite), "--dataset", "sample", "--json", str(tmp_path / "r.json")])
    assert "mean" in capsys.readouterr().out
    with pytest.raises(ModelError, match="upscales x2, not x4"):
        load(str(tiny_tflite), scale=4)
    with pytest.raises(ModelError, match="runs on LiteRT only"):
        load(str(tiny_tflite), backend="function")


def test_bad_tflite_files_are_one_line_errors(tmp_path):
    import subprocess
    import sys

    import tensorflow as tf
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(lambda x: x * 2).get_concrete_function(tf.TensorSpec((1, 4, 4, 3), tf.float32))])
    (tmp_path / "double.tflite").write_bytes(converter.convert())
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    for name, message in (("junk.tflite", "not a TFLite model"),
                          ("double.tflite", "not an SR model (maps 4x4x3 to 4x4x3)")):
        out = subprocess.run([sys.executable, "-m", "tfsr.upscale", "--model", str(tmp_path / name),
                              str(tmp_path / "a.png"), "--output", str(tmp_path / "sr")],
                             capture_output=True, text=True, check=False)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / name}: {message}")


def test_fixed_size_tflite_is_tiled_to_fit(tmp_path, tiny_model, rng):
    from tfsr.inference.convert import tflite_float32
    from tfsr.inference.files import load
    model = for_scale(load_model(tiny_model))[0]
    (tmp_path / "fixed.tflite").write_bytes(tflite_float32(model, input_size=(40, 40)))
    upscale = load(str(tmp_path / "fixed.tflite"), tile=None, overlap=8)
    assert upscale.tile == 24
    image = random_image(rng, 70, 55)
    whole = upscaler(model, 2, backend="function")(image)
    assert np.abs(upscale(image).astype(int) - whole).max() <= 1


def test_progress_in_a_log_file_is_plain_lines(tmp_path):
    import io

    from tfsr.progress import progress_bar
    log = io.StringIO()
    with progress_bar(total=1000, unit="step", file=log, mininterval=0) as bar:
        for _ in range(1000):
            bar.update(1)
    text = log.getvalue()
    assert "\r" not in text and text.endswith("1000/1000 (100%) [00:00<00:00, " + text.split(", ")[-1])
    assert len(text) < 100_000
    log = io.StringIO()
    with progress_bar(total=1, unit="tile", file=log, mininterval=0) as bar:
        bar.set_description("camera.png", refresh=False)  # as tfsr.upscale names the image in progress
        bar.update(1)
    assert log.getvalue().startswith("camera.png: 1/1 (100%)")


def test_a_corrupt_entry_in_a_read_only_cache_costs_only_the_conversion(tmp_path, tiny_model, monkeypatch):
    from pathlib import Path

    from tfsr.inference import files
    monkeypatch.setenv("TFSR_CACHE", str(tmp_path / "cache"))
    entry = tmp_path / "cache" / f"{files.content_key(tiny_model, None)}.tflite"
    entry.parent.mkdir()
    entry.write_bytes(b"corrupt")

    def refuse(self, *args, **kwargs):  # what a read-only folder does to a non-root user
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    monkeypatch.setattr(files, "atomic_output", lambda path: refuse(path))
    predictor, scale = files.cached_conversion(tiny_model, None)
    assert scale == 2 and predictor(np.zeros((1, 6, 6, 3), np.float32)).shape == (1, 12, 12, 3)
    assert entry.read_bytes() == b"corrupt"  # left as it was
