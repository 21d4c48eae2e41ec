import keras
import numpy as np
import pytest
from conftest import random_image

from tfsr.layers import WeightNormalization, fold_weight_norm
from tfsr.models import ARCHS, build, get_arch, select_scale

TINY = {"edsr_baseline": dict(blocks=2, features=8), "edsr": dict(blocks=2, features=8),
        "mdsr_baseline": dict(blocks=2, features=8), "mdsr": dict(blocks=2, features=8),
        "wdsr_a": dict(blocks=2, features=8), "wdsr_b": dict(blocks=2, features=8),
        "srvgg": dict(features=8, convs=2)}


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("arch, scale, overrides, expected", [
    ("edsr_baseline", 2, {}, 1_369_859),
    ("edsr_baseline", 3, {}, 1_554_499),
    ("edsr_baseline", 4, {}, 1_517_571),
    ("edsr", 2, {}, 40_729_603),
    ("wdsr_a", 2, dict(blocks=16, features=32, expansion=4), 1_190_100),  # weight-norm g counted
    # Real-ESRGAN's compact nets: realesr-animevideov3 (its ncnn file: tests/test_importers.py) and
    # realesr-general-x4v3 (its 4.88 MB float32 .pth)
    ("srvgg", 4, dict(features=64, convs=16), 621_424),
    ("srvgg", 4, dict(features=64, convs=32), 1_213_296),
])
def test_published_parameter_counts(arch, scale, overrides, expected):
    assert trainable_params(build(arch, scale, **overrides)) == expected


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_and_scale_upscales_a_non_square_image(arch):
    x = np.random.default_rng(0).uniform(0, 255, (1, 17, 23, 3)).astype("float32")
    for scale in get_arch(arch).scales:
        y = build(arch, scale)(x)
        assert tuple(y.shape) == (1, 17 * scale, 23 * scale, 3), (arch, scale)
        assert np.isfinite(y.numpy()).all()


def test_a_new_srvgg_is_nearest_neighbour_upscaling_and_its_body_keeps_the_signals_size():
    x = np.random.default_rng(0).uniform(0, 255, (8, 12, 10, 3)).astype("float32")
    keras.utils.set_random_seed(0)
    for activation in ("prelu", "relu"):
        ratios = {}
        for init in ("he", "torch"):
            model = build("srvgg", 3, features=32, convs=16, activation=activation, conv_init=init)
            if init == "he":  # the default
                np.testing.assert_allclose(model(x).numpy(), np.repeat(np.repeat(x, 3, 1), 3, 2), atol=1e-3)
            last = model.get_layer("body_prelu15" if activation == "prelu" else "body_conv15")
            body = keras.Model(model.input, last.output)(x).numpy()
            first = keras.Model(model.input, model.get_layer("head").output)(x).numpy()
            ratios[init] = body.std(axis=0).mean() / first.std(axis=0).mean()  # how much the 17th varies with x
        # Measured over 8 seeds: He 0.14-0.45, PyTorch's 2e-7-4e-7 (its net is blind to its input)
        assert ratios["he"] > 0.05 and ratios["torch"] < 1e-5, ratios


def test_a_new_srvgg_on_a_bilinear_base_is_bilinear_upscaling_and_loads_in_safe_mode(tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (2, 9, 13, 3)).astype("float32")
    model = build("srvgg", 4, features=8, convs=2, base="bilinear")
    expected = keras.ops.image.resize(x, (36, 52), "bilinear")  # TensorFlow's: half-pixel centres, edges clamped
    np.testing.assert_allclose(model(x).numpy(), np.asarray(expected), atol=1e-3)
    assert not np.allclose(model(x).numpy(), np.repeat(np.repeat(x, 4, 1), 4, 2), atol=1)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    with pytest.raises(ValueError, match="base is one of nearest, bilinear, learned, got 'bicubic'"):
        build("srvgg", 4, base="bicubic")


def test_a_new_srvgg_on_a_learned_base_is_nearest_upscaling_and_its_base_trains():
    x = np.random.default_rng(0).uniform(0, 255, (2, 9, 13, 3)).astype("float32")
    model = build("srvgg", 4, features=8, convs=2, base="learned")
    np.testing.assert_allclose(model(x).numpy(), np.repeat(np.repeat(x, 4, 1), 4, 2), atol=1e-3)
    base = model.get_layer("skip")
    assert base.trainable and base.kernel.shape == (5, 5, 3, 48)
    assert trainable_params(model) == trainable_params(build("srvgg", 4, features=8, convs=2)) + 5 * 5 * 3 * 48 + 48


def test_wdsr_blocks_have_the_published_shapes():
    a = build("wdsr_a", 2, blocks=1, features=32, expansion=4)
    assert a.get_layer("body_block0_expand").layer.kernel.shape == (3, 3, 32, 128)
    assert a.get_layer("body_block0_reduce").layer.kernel.shape == (3, 3, 128, 32)
    b = build("wdsr_b", 4, blocks=1, features=32, expansion=6, low_rank=0.8)
    assert b.get_layer("body_block0_expand").layer.kernel.shape == (1, 1, 32, 192)
    assert b.get_layer("body_block0_low_rank").layer.kernel.shape == (1, 1, 192, 25)
    assert b.get_layer("body_block0_reduce").layer.kernel.shape == (3, 3, 25, 32)
    assert b.get_layer("skip").layer.kernel.shape == (5, 5, 3, 48)
    assert b.get_layer("tail").layer.kernel.shape == (3, 3, 32, 48)
    assert all(isinstance(layer, WeightNormalization) for layer in b.layers
               if isinstance(layer, (keras.layers.Conv2D, WeightNormalization)))


def test_official_wdsr_initialisation_sets_g_constants():
    model = build("wdsr_a", 2, blocks=2, features=8, res_scale=0.5, init="official")
    for name, g in [("head", 1.0), ("tail", 1.0), ("skip", 1.0),
                    ("body_block1_expand", 2.0), ("body_block1_reduce", 0.5)]:
        np.testing.assert_array_equal(model.get_layer(name).g.numpy(), g)


def test_mdsr_shares_body_between_scales():
    model = build("mdsr_baseline", None, **TINY["mdsr_baseline"])
    assert model.output_names == ["x2", "x3", "x4"] and all(t.shape[-1] == 3 for t in model.outputs)
    x2, x4 = select_scale(model, 2), select_scale(model, 4)
    shared = {id(v) for v in x2.trainable_weights} & {id(v) for v in x4.trainable_weights}
    body = model.get_layer("body")
    assert {id(v) for v in body.trainable_weights} <= shared
    assert "pre_x2_block0_conv1" not in [layer.name for layer in x4.layers]
    x = np.zeros((1, 5, 6, 3), "float32")
    assert tuple(x4(x).shape) == (1, 20, 24, 3)
    with pytest.raises(ValueError, match="x8"):
        select_scale(model, 8)


def test_unknown_arch_scale_and_option_are_clear_errors():
    with pytest.raises(ValueError, match="unknown architecture 'srcnn'"):
        build("srcnn", 2)
    with pytest.raises(ValueError, match="scales"):
        build("mdsr", 8)
    with pytest.raises(ValueError, match="no option expansion"):
        build("edsr", 2, expansion=4)


@pytest.mark.parametrize("arch", ["edsr", "mdsr", "wdsr_a", "wdsr_b"])
def test_keras_file_round_trip_in_safe_mode(arch, tmp_path):
    model = build(arch, 3, **TINY[arch])
    x = np.random.default_rng(1).uniform(0, 255, (1, 9, 10, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("arch", ["wdsr_a", "wdsr_b"])
def test_folded_wdsr_matches_weight_normalised_model(arch):
    model = build(arch, 4, blocks=4, features=16, init="official", res_scale=0.5)
    rng = np.random.default_rng(2)
    for w in model.trainable_weights:  # move away from the identity-like initial state
        w.assign(w.numpy() * rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    folded = fold_weight_norm(model)
    assert not any(isinstance(layer, WeightNormalization) for layer in folded.layers)
    assert trainable_params(folded) == trainable_params(model) - sum(
        layer.g.shape[0] for layer in model.layers if isinstance(layer, WeightNormalization))
    x = rng.uniform(0, 255, (1, 24, 19, 3)).astype("float32")
    assert np.abs(folded(x).numpy() - model(x).numpy()).max() < 1e-4


@pytest.mark.parametrize("arch", ["edsr_baseline", "wdsr_a", "wdsr_b"])
def test_short_fit_lowers_l1_loss(arch):
    keras.utils.set_random_seed(0)
    model = build(arch, 2, **TINY[arch])
    rng = np.random.default_rng(0)
    hr = np.stack([random_image(rng, 16, 16) for _ in range(8)]).astype("float32")
    lr = hr.reshape(8, 8, 2, 8, 2, 3).mean(axis=(2, 4))
    model.compile(keras.optimizers.Adam(1e-3), loss="mae")
    before = model.evaluate(lr, hr, verbose=0)
    model.fit(lr, hr, batch_size=4, epochs=20, verbose=0)
    after = model.evaluate(lr, hr, verbose=0)
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize("arch", ["edsr_baseline", "wdsr_b"])
def test_torch_initialisation_is_pytorchs_conv2d_default(arch):
    """conv_init="torch": kernel and bias uniform in ±1/sqrt(kh·kw·c_in), as torch.nn.Conv2d."""
    keras.utils.set_random_seed(0)
    model = build(arch, 4, conv_init="torch")
    convs = [layer.layer if isinstance(layer, WeightNormalization) else layer for layer in model.layers
             if isinstance(layer, (keras.layers.Conv2D, WeightNormalization))]
    assert len(convs) > 30
    scaled = {"kernel": [], "bias": []}  # |w| / bound: uniform on [0, 1]
    for conv in convs:
        bound = 1 / np.sqrt(np.prod(conv.kernel.shape[:3]))
        scaled["kernel"].append(np.abs(conv.kernel.numpy()).ravel() / bound)
        scaled["bias"].append(np.abs(conv.bias.numpy()).ravel() / bound)
    for name, values in scaled.items():
        values = np.concatenate(values)
        assert values.max() <= 1 and values.mean() == pytest.approx(0.5, abs=0.03), name
    glorot = build(arch, 4, conv_init="glorot")
    assert all(not np.any(w.numpy()) for w in glorot.weights if w.path.endswith("bias"))
    with pytest.raises(ValueError, match="conv_init is one of torch, glorot, he"):
        build(arch, 4, conv_init="lecun")


@pytest.mark.parametrize("arch", ["wdsr_b", "srvgg"])  # srvgg: Real-ESRGAN's -dn is such a blend of two
def test_interpolation_blends_every_variable_and_its_cli_writes_the_blend(arch, tmp_path):
    from tfsr import interpolate as interpolate_cli
    from tfsr.deploy.ship import blend_report
    from tfsr.models.interpolation import interpolate
    rng = np.random.default_rng(2)
    gan, l1 = build(arch, 2, **TINY[arch]), build(arch, 2, **TINY[arch])
    for model in (gan, l1):  # apart, so a blend that took one side would show
        model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    x = rng.uniform(0, 255, (1, 9, 10, 3)).astype("float32")
    np.testing.assert_array_equal(interpolate(gan, l1, 1.0)(x), gan(x))
    np.testing.assert_array_equal(interpolate(gan, l1, 0.0)(x), l1(x))
    blend = interpolate(gan, l1, 0.25)
    for b, g, o in zip(blend.get_weights(), gan.get_weights(), l1.get_weights()):
        np.testing.assert_allclose(b, 0.25 * g + 0.75 * o, rtol=1e-6, atol=1e-7)
    assert not np.allclose(blend(x), gan(x), atol=1.0) and not np.allclose(blend(x), l1(x), atol=1.0)

    gan.save(tmp_path / "gan.keras")
    l1.save(tmp_path / "l1.keras")
    out = tmp_path / "blend.keras"
    interpolate_cli.main([str(tmp_path / "gan.keras"), str(tmp_path / "l1.keras"), "--weight", "0.25",
                          "--output", str(out)])
    loaded = keras.saving.load_model(out, safe_mode=True)
    np.testing.assert_allclose(loaded(x), blend(x), rtol=1e-5, atol=1e-3)
    recipe = {"model": str(tmp_path / "gan.keras"), "other": str(tmp_path / "l1.keras"), "weight": 0.25,
              "space": "weights"}
    assert blend_report(out) == {"interpolation": recipe}  # what tfsr.ship puts in the preset's report


@pytest.mark.parametrize("arch", ["wdsr_a", "wdsr_b"])
def test_an_output_blend_is_one_network_twice_as_wide_that_computes_the_blend_of_the_images(arch, tmp_path):
    from tfsr import interpolate as interpolate_cli
    from tfsr.deploy.ship import blend_report
    from tfsr.models.interpolation import blend_outputs
    rng = np.random.default_rng(3)
    gan, l1 = build(arch, 3, **TINY[arch]), build(arch, 3, **TINY[arch])
    for model in (gan, l1):  # two unrelated networks: an output blend does not need one fine-tuned from the other
        model.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32") for w in model.get_weights()])
    x = rng.uniform(0, 255, (1, 11, 9, 3)).astype("float32")
    expected = 0.3 * np.asarray(gan(x)) + 0.7 * np.asarray(l1(x))
    assert np.abs(expected).max() > 100 and np.abs(np.asarray(gan(x)) - np.asarray(l1(x))).mean() > 20
    wide = blend_outputs(gan, l1, 0.3)
    np.testing.assert_allclose(wide(x), expected, rtol=1e-5, atol=2e-3)
    np.testing.assert_allclose(blend_outputs(gan, l1, 1.0)(x), gan(x), rtol=1e-5, atol=2e-3)
    kernels = {layer.name: layer.layer.kernel.shape for layer in wide.layers if isinstance(layer, WeightNormalization)}
    assert kernels["head"] == (3, 3, 3, 16) and kernels["tail"] == (3, 3, 16, 27) and kernels["skip"] == (5, 5, 3, 27)
    expand = next(layer for layer in wide.layers if layer.name == "body_block0_expand")
    kernel, half = np.asarray(expand.effective_kernel()), expand.layer.filters // 2
    assert half == 8 * (4 if arch == "wdsr_a" else 6)
    assert not kernel[..., :8, half:].any() and not kernel[..., 8:, :half].any()  # each half reads only its own

    gan.save(tmp_path / "gan.keras")
    l1.save(tmp_path / "l1.keras")
    out = tmp_path / "blend.keras"
    interpolate_cli.main([str(tmp_path / "gan.keras"), str(tmp_path / "l1.keras"), "--weight", "0.3",
                          "--space", "outputs", "--output", str(out)])
    np.testing.assert_allclose(keras.saving.load_model(out, safe_mode=True)(x), expected, rtol=1e-5, atol=2e-3)
    assert blend_report(out)["interpolation"]["space"] == "outputs"


def test_an_output_blend_of_two_widths_and_of_a_blend_is_one_network_as_wide_as_both():
    from tfsr.models.interpolation import blend_outputs
    rng = np.random.default_rng(4)
    narrow, wide = build("wdsr_b", 4, **TINY["wdsr_b"]), build("wdsr_b", 4, **{**TINY["wdsr_b"], "features": 16})
    third = build("wdsr_b", 4, **TINY["wdsr_b"])
    for model in (narrow, wide, third):
        model.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32") for w in model.get_weights()])
    x = rng.uniform(0, 255, (1, 10, 12, 3)).astype("float32")
    mixed = blend_outputs(wide, narrow, 0.6)
    np.testing.assert_allclose(mixed(x), 0.6 * np.asarray(wide(x)) + 0.4 * np.asarray(narrow(x)), rtol=1e-5, atol=2e-3)
    again = blend_outputs(mixed, third, 0.25)  # wdsr_b_x4_gan (itself a blend) with wdsr_b_x4_real: the slider
    expected = 0.25 * (0.6 * np.asarray(wide(x)) + 0.4 * np.asarray(narrow(x))) + 0.75 * np.asarray(third(x))
    np.testing.assert_allclose(again(x), expected, rtol=1e-5, atol=2e-3)
    head = next(layer for layer in again.layers if layer.name == "head")
    assert head.layer.filters == 16 + 8 + 8


def test_output_blending_refuses_a_network_it_cannot_merge():
    from tfsr.errors import ModelError
    from tfsr.models.interpolation import blend, blend_outputs
    edsr = build("edsr_baseline", 2, **TINY["edsr_baseline"])
    with pytest.raises(ModelError, match="output blending merges WDSR networks"):
        blend_outputs(edsr, build("edsr_baseline", 2, **TINY["edsr_baseline"]), 0.5)
    wdsr = build("wdsr_b", 2, **TINY["wdsr_b"])
    with pytest.raises(ModelError, match="not the same network"):  # another depth
        blend_outputs(wdsr, build("wdsr_b", 2, **{**TINY["wdsr_b"], "blocks": TINY["wdsr_b"]["blocks"] + 1}), 0.5)
    with pytest.raises(ModelError, match="not the same network"):  # another scale
        blend_outputs(wdsr, build("wdsr_b", 3, **TINY["wdsr_b"]), 0.5)
    with pytest.raises(ModelError, match=r"must be in \[0, 1\]"):
        blend_outputs(wdsr, wdsr, 1.5)
    with pytest.raises(ValueError, match=r"^unknown blend space 'pixels' \(weights, outputs\)$"):
        blend(wdsr, wdsr, 0.5, "pixels")


def test_interpolation_refuses_two_different_networks_in_one_line(tmp_path, capsys):
    from tfsr import cli
    from tfsr import interpolate as interpolate_cli
    build("wdsr_b", 2, **TINY["wdsr_b"]).save(tmp_path / "a.keras")
    build("wdsr_b", 2, **{**TINY["wdsr_b"], "blocks": TINY["wdsr_b"]["blocks"] + 1}).save(tmp_path / "b.keras")
    status = cli.run(interpolate_cli.main, [str(tmp_path / "a.keras"), str(tmp_path / "b.keras"), "--weight", "0.5",
                                            "--output", str(tmp_path / "c.keras")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {tmp_path / 'a.keras'} and {tmp_path / 'b.keras'}: not the same network")
    assert not (tmp_path / "c.keras").exists()
    assert cli.run(interpolate_cli.main, [str(tmp_path / "a.keras"), str(tmp_path / "a.keras"), "--weight", "1.5",
                                          "--output", str(tmp_path / "c.keras")]) == 2
