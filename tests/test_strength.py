"""The strength slider: a preset with a fidelity partner runs strength * preset + (1 - strength) * partner.

Two small WDSR-B networks with unrelated weights stand in for a preset and its partner; the slider's ends
must be the two models exactly, its middle their weight blend, and the exported file that blend.
"""
import json

import keras
import numpy as np
import pytest
from conftest import random_image

from tfsr.errors import ModelError
from tfsr.inference.files import load
from tfsr.inference.runtime import function_predictor
from tfsr.models import build, presets
from tfsr.models.interpolation import interpolate
from tfsr.models.presets import Preset


@pytest.fixture
def slider(tmp_path, monkeypatch):
    """Presets ``look`` (partner ``true``, default strength 0.6) and ``plain`` (no partner), in tmp_path."""
    for name, seed in (("look", 1), ("true", 2), ("plain", 3)):
        keras.utils.set_random_seed(seed)
        build("wdsr_b", 4, blocks=2, features=8).save(tmp_path / f"{name}.keras")
    monkeypatch.setitem(presets.PRESETS, "look", Preset("look", "wdsr_b", 4, "test", partner="true", strength=0.6))
    monkeypatch.setitem(presets.PRESETS, "true", Preset("true", "wdsr_b", 4, "test"))
    monkeypatch.setitem(presets.PRESETS, "plain", Preset("plain", "wdsr_b", 4, "test"))
    monkeypatch.setattr(presets, "search_path", lambda: [tmp_path])
    monkeypatch.setenv("TFSR_CACHE", str(tmp_path / "cache"))
    return tmp_path


def keras_output(model, image):
    """The model's output through the ``function`` backend, as `load(..., backend="function")` runs it."""
    return function_predictor(model)(image[None].astype(np.float32))[0]


def test_the_sliders_ends_are_its_two_models_and_its_middle_their_weight_blend(slider, rng):
    image = random_image(rng, 20, 24)
    look, true = (keras.saving.load_model(slider / f"{n}.keras") for n in ("look", "true"))
    for strength, expected in ((1.0, look), (0.0, true), (0.3, interpolate(look, true, 0.3))):
        upscaler = load("look", strength=strength, backend="function", tile=None)
        np.testing.assert_array_equal(upscaler.predict(image[None].astype(np.float32))[0],
                                      keras_output(expected, image))
    assert load("look", strength=1.0, backend="function").source == str(slider / "look.keras")
    assert load("look", strength=0.0, backend="function").source == str(slider / "true.keras")
    assert load("look", backend="function").source == "look at strength 0.6"  # the preset's default
    # on LiteRT the blend is converted once (its export graph clips to [0, 255]), cached by both files and the strength
    blended = load("look", strength=0.3, tile=None)
    np.testing.assert_allclose(blended.predict(image[None].astype(np.float32))[0],
                               np.clip(keras_output(interpolate(look, true, 0.3), image), 0, 255), atol=1e-3)
    assert len(list((slider / "cache").glob("*.tflite"))) == 1


def test_a_strength_outside_the_slider_or_without_a_partner_is_one_line(slider):
    with pytest.raises(ModelError, match=r"^plain: --strength needs a preset with a fidelity partner \(wdsr_b_x4_gan, look\)$"):
        load("plain", strength=0.5)
    with pytest.raises(ModelError, match=r"^--strength 1.5: must be between 0 \(faithful\) and 1"):
        load("look", strength=1.5)
    with pytest.raises(ModelError, match="no int8 file"):
        load("look", strength=0.5, precision="int8")


def test_the_exported_blend_is_the_keras_blend(slider, rng, capsys):
    from tfsr import export
    from tfsr.inference.runtime import LiteRTPredictor
    out = slider / "look_0.3.tflite"
    export.main(["look", str(out), "--strength", "0.3"])
    assert "wrote" in capsys.readouterr().out
    look, true = (keras.saving.load_model(slider / f"{n}.keras") for n in ("look", "true"))
    image = random_image(rng, 20, 24)
    predictor, scale = LiteRTPredictor.from_file(out)
    assert scale == 4
    np.testing.assert_allclose(predictor(image[None].astype(np.float32))[0],
                               np.clip(keras_output(interpolate(look, true, 0.3), image), 0, 255), atol=1e-3)
    assert json.loads((slider / "look_0.3.tflite.json").read_text())["strength"] == {
        "preset": "look", "partner": "true", "strength": 0.3}


def test_a_presets_tflite_files_are_at_its_default_strength_and_its_keras_file_at_one(slider, rng):
    from tfsr import export
    from tfsr.models import pretrained
    export.main(["look", str(slider / "look_float16.tflite")])  # what tfsr.ship makes: the default strength
    assert json.loads((slider / "look_float16.tflite.json").read_text())["strength"]["strength"] == 0.6
    look, true = (keras.saving.load_model(slider / f"{n}.keras") for n in ("look", "true"))
    image = random_image(rng, 20, 24)
    x = image[None].astype(np.float32)
    default = load("look", precision="float32", tile=None)
    assert default.source == str(slider / "look_float16.tflite")
    np.testing.assert_allclose(default.predict(x)[0],
                               np.clip(keras_output(interpolate(look, true, 0.6), image), 0, 255), atol=1e-3)
    one = load("look", strength=1.0, tile=None)
    assert one.source == "look at strength 1"
    np.testing.assert_allclose(one.predict(x)[0], np.clip(keras_output(look, image), 0, 255), atol=1e-3)
    np.testing.assert_array_equal(keras_output(pretrained("look"), image),
                                  keras_output(interpolate(look, true, 0.6), image))


def test_an_output_blend_preset_slides_between_the_two_images(slider, rng, monkeypatch):
    from tfsr.models import pretrained
    keras.utils.set_random_seed(4)
    build("wdsr_b", 4, blocks=2, features=16).save(slider / "drawn.keras")  # wider than its partner, as wdsr_b_x4_gan
    monkeypatch.setitem(presets.PRESETS, "drawn", Preset("drawn", "wdsr_b", 4, "test", partner="true", blend="outputs"))
    drawn, true = (keras.saving.load_model(slider / f"{n}.keras") for n in ("drawn", "true"))
    image = random_image(rng, 20, 24)
    x = image[None].astype(np.float32)
    half = load("drawn", strength=0.4, backend="function", tile=None)
    assert half.source == "drawn at strength 0.4"
    np.testing.assert_allclose(half.predict(x)[0], 0.4 * keras_output(drawn, image) + 0.6 * keras_output(true, image),
                               rtol=1e-5, atol=2e-3)
    assert load("drawn", backend="function").source == str(slider / "drawn.keras")  # its default: 1, itself
    assert load("drawn", strength=0.0, backend="function").source == str(slider / "true.keras")
    assert pretrained("drawn", 0.4).get_layer("head").layer.filters == 16 + 8
