"""float16 mixed precision, as on GPUs, proven on the CPU: every trainer follows Keras' loss-scaling contract.

Adam's first update moves each weight by lr·sign(g)·c(t) whatever the gradient's size (|g| ≫ ε), where
c(t) = [(1−β1)/(1−β1^t)] / sqrt((1−β2)/(1−β2^t)) is 1 at t = 1 and t is the step it is applied at (float16
skips the steps whose scaled gradients overflow, halving the scale, and counts them). So the first update
under float16 must match float32's weight by weight, times c(t). A trainer that forgets to scale its loss (or
unscales gradients it never scaled) shrinks every gradient by the loss scale (≥ 2^10) to Adam's ε or below,
and its update with it; float16 gradients that underflow leave weights unmoved.
"""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsr.models import build
from tfsr.models.discriminators import build_discriminator
from tfsr.training import TrainConfig, make_optimizer, train
from tfsr.training.adversarial import GANTrainer
from tfsr.training.optimization import CountingLossScaleOptimizer, loss_scaled
from tfsr.training.precision import compute_dtype
from tfsr.training.precision import dtype_policy as _dtype_policy
from tfsr.training.trainers import MultiScaleTrainer, Trainer

LR = 1e-3


def _batch(scale=2, n=2, size=12):
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 255, (n, scale * size, scale * size, 3)).astype("float32")
    return tf.constant(hr.reshape(n, size, scale, size, scale, 3).mean(axis=(2, 4))), tf.constant(hr)


def _trainer(kind, initial=None):
    keras.utils.set_random_seed(0)
    if kind == "mdsr":
        net = build("mdsr_baseline", None, blocks=1, features=8)
        trainer = MultiScaleTrainer(net)
    elif kind == "gan":
        net = build("wdsr_b", 2, blocks=1, features=8)
        trainer = GANTrainer(net, build_discriminator("patch", 4), {"l1": 1.0, "gan": 0.1},
                             loss_scaled(keras.optimizers.Adam(LR)), scale=2)
    else:
        net = build("wdsr_b", 2, blocks=1, features=8)
        trainer = Trainer(net)
    if kind == "gan":
        trainer.compile(loss_scaled(keras.optimizers.Adam(LR)))
    else:
        trainer.compile(loss_scaled(keras.optimizers.Adam(LR)), "mae")
        trainer.optimizer.build(trainer.trainable_variables)
    if initial is not None:
        for variable, value in zip(net.trainable_variables, initial, strict=True):
            variable.assign(value)
    return trainer


def _first_update(kind, dtype):
    """(the first update that moved the network's weights, the step t it was applied at)."""
    with _dtype_policy(dtype):
        trainer = _trainer(kind)
        before = [v.numpy().copy() for v in trainer.net.trainable_variables]
        for _ in range(20):  # float16: overflowing steps are skipped, each halving the loss scale
            trainer.train_step(_batch())
            update = np.concatenate([(v.numpy() - b).ravel()
                                     for v, b in zip(trainer.net.trainable_variables, before)])
            if np.any(update):
                return update, int(trainer.optimizer.iterations)
    raise AssertionError("no update in 20 steps")


def _adam_first_step(t, beta_1=0.9, beta_2=0.999):
    return (1 - beta_1) / (1 - beta_1 ** t) / np.sqrt((1 - beta_2) / (1 - beta_2 ** t))


@pytest.mark.parametrize("kind", ["plain", "mdsr", "gan"])
def test_the_first_float16_update_is_float32s(kind):
    (full, t_full), (half, t) = _first_update(kind, None), _first_update(kind, "float16")
    assert t_full == 1 and t <= 10  # a few skipped steps at most: the scale starts at 2^15
    moved = np.abs(full) > 0.5 * LR  # weights whose gradient Adam turned into a full step
    assert moved.sum() > 500  # (MDSR: only the batch scale's branch moves)
    ratio = np.abs(half[moved]) / np.abs(full[moved])
    assert np.median(ratio) == pytest.approx(_adam_first_step(t), rel=0.02)
    assert np.mean(np.sign(half[moved]) == np.sign(full[moved])) > 0.97  # only near-zero gradients may flip


def test_a_skipped_float16_step_still_counts():
    with _dtype_policy("float16"):
        trainer = _trainer("plain")
        optimizer = trainer.optimizer
        assert isinstance(optimizer, CountingLossScaleOptimizer)
        before = [v.numpy().copy() for v in trainer.net.trainable_variables]
        optimizer.apply([tf.fill(v.shape, np.inf) for v in trainer.net.trainable_variables],
                        trainer.net.trainable_variables)
        assert int(optimizer.iterations) == 1 and float(optimizer.dynamic_scale) == 2.0 ** 14
        for value, variable in zip(before, trainer.net.trainable_variables):
            np.testing.assert_array_equal(value, variable.numpy())


def measured(float32, bfloat16):
    """An injected measurement: a step's seconds per dtype, counting its calls."""
    calls = []

    def measure(config, dtype):
        calls.append(dtype)
        return {"float32": float32, "bfloat16": bfloat16}[dtype]
    measure.calls = calls
    return measure


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="on a GPU, auto is float16")
@pytest.mark.parametrize("float32, bfloat16, chosen", [(1.0, 2.3, "float32"), (1.0, 0.6, "bfloat16"),
                                                       (1.0, 1.0, "float32")])
def test_auto_never_picks_the_precision_this_cpu_measured_slower(tmp_path, monkeypatch, float32, bfloat16, chosen):
    monkeypatch.setenv("TFSR_CACHE", str(tmp_path))
    config = TrainConfig(arch="wdsr_b", blocks=2, features=16, mixed_precision="auto").resolved()
    lines, measure = [], measured(float32, bfloat16)
    assert compute_dtype(config, lines.append, measure) == chosen
    assert measure.calls == ["float32", "bfloat16"]
    assert lines == [f"mixed precision auto: {chosen} (a step took {float32:.2f} s in float32, {bfloat16:.2f} s "
                     f"in bfloat16 on {lines[0].split(' on ', 1)[1]}"]
    assert compute_dtype(config, lines.append, measured(9.0, 0.1)) == chosen  # cached for this CPU and network
    other = TrainConfig(arch="wdsr_b", blocks=3, features=16, mixed_precision="auto").resolved()
    assert compute_dtype(other, lines.append, measured(9.0, 0.1)) == "bfloat16"  # another network: measured anew


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="on a GPU, auto is float16")
def test_an_explicit_bfloat16_that_measured_slower_is_kept_with_a_one_line_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSR_CACHE", str(tmp_path))
    lines = []
    config = TrainConfig(arch="wdsr_b", blocks=2, features=16, mixed_precision="bfloat16").resolved()
    assert compute_dtype(config, lines.append, measured(1.0, 2.2)) == "bfloat16"
    assert len(lines) == 1 and lines[0].startswith("warning: bfloat16 measured 2.2x slower a step than float32")
    assert compute_dtype(TrainConfig(mixed_precision="float16"), lines.append) == "float16"
    assert compute_dtype(TrainConfig(), lines.append) == "float32" and len(lines) == 1


def test_a_step_is_timed_on_the_runs_network_and_batch_in_the_dtype_asked_for():
    from tfsr.training.precision import step_seconds
    ticks = iter(range(100))
    config = TrainConfig(arch="wdsr_b", blocks=1, features=8, batch_size=2, patch_size=8).resolved()
    assert step_seconds(config, "bfloat16", steps=3, clock=lambda: 2.0 * next(ticks)) == 2.0
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy is put back


def test_resume_under_float16_is_exact_and_keeps_the_loss_scale(tmp_path):
    with _dtype_policy("float16"):
        first = _trainer("plain")
        assert isinstance(first.optimizer, CountingLossScaleOptimizer)
        for _ in range(3):
            first.train_step(_batch())
        first.optimizer.dynamic_scale.assign(1024.0)  # as after overflows: must survive the checkpoint
        first.save_weights(tmp_path / "c.weights.h5")
        second = _trainer("plain")
        second.load_weights(tmp_path / "c.weights.h5")
        assert float(second.optimizer.dynamic_scale) == 1024.0
        for a, b in zip(first.optimizer.variables + first.net.weights, second.optimizer.variables + second.net.weights,
                        strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
        first.train_step(_batch())
        second.train_step(_batch())
        for a, b in zip(first.net.weights, second.net.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_ema_under_float16_saves_the_average(tmp_path):
    config = TrainConfig(arch="wdsr_b", dataset="sample", blocks=2, features=16, patch_size=16, batch_size=4,
                         eval_crop=48, steps=10, eval_every=10, checkpoint_every=10, ema=0.9,
                         mixed_precision="float16", output=str(tmp_path / "run"))
    train(config, log=lambda *_: None)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["mixed_precision"] == "float16"
    with _dtype_policy("float16"):
        trainer = Trainer(build("wdsr_b", 4, blocks=2, features=16))
        trainer.compile(make_optimizer(config.resolved()), "mae")
        trainer.optimizer.build(trainer.trainable_variables)
        trainer.load_weights(tmp_path / "run" / "checkpoint.weights.h5")
        average = [v.numpy() for v in trainer.optimizer.inner_optimizer._model_variables_moving_average]
        raw = [v.numpy() for v in trainer.net.trainable_variables]
        saved = keras.saving.load_model(tmp_path / "run" / "last.keras")
    assert saved.get_layer("head").compute_dtype == "float16"
    for weights, mean in zip(saved.trainable_variables, average, strict=True):
        np.testing.assert_allclose(weights.numpy(), mean, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(r, a) for r, a in zip(raw, average))  # the average, not the raw weights
