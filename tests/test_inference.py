import keras
import numpy as np
import pytest
from conftest import random_image
from PIL import Image

from tfsr import upscale as upscale_cli
from tfsr.data import imresize
from tfsr.inference import (
    ModelError,
    Upscaler,
    for_scale,
    load_model,
    make_predictor,
    self_ensemble,
    upscale_tiled,
)
from tfsr.models import build


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
    upscaler = Upscaler.from_model(model, scale, backend="function")
    gray = random_image(rng, 12, 10, 1)
    out = upscaler(gray)
    assert out.shape == (24, 20, 1)
    rgb = upscaler(np.repeat(gray, 3, -1)).astype(np.float64)
    luma = rgb @ (np.array([65.481, 128.553, 24.966]) / 219)
    assert np.abs(out[..., 0] - luma).max() <= 0.5 + 1e-9
    rgba = np.concatenate([random_image(rng, 12, 10), random_image(rng, 12, 10, 1)], -1)
    out = upscaler(rgba)
    assert out.shape == (24, 20, 4)
    assert np.array_equal(out[..., 3], imresize(rgba[..., 3], 2))


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
