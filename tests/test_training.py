import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsr import cli
from tfsr.data import sample
from tfsr.evaluation import evaluate
from tfsr.inference import upscaler
from tfsr.models import build, load_model
from tfsr.train import config_from_args
from tfsr.training import (
    ConfigError,
    TrainConfig,
    TrainingError,
    copy_matching_layers,
    make_optimizer,
    resumed_config,
    train,
)
from tfsr.training.trainers import MultiScaleTrainer, Trainer

TINY = dict(arch="wdsr_b", dataset="sample", blocks=2, features=16, patch_size=16, batch_size=4,
            eval_crop=48, cache="memory")


def tiny_config(tmp_path, **overrides):
    return TrainConfig(**{**TINY, "output": str(tmp_path / "run"), **overrides})


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_run_lowers_loss_and_writes_its_files(tmp_path):
    config = tiny_config(tmp_path, steps=60, eval_every=30, checkpoint_every=30, eval_crop=None)
    result = train(config, log=lambda *_: None)
    run = tmp_path / "run"
    for name in ("best.keras", "last.keras", "best.json", "metrics.csv", "checkpoint.weights.h5", "config.json"):
        assert (run / name).is_file(), name
    rows = read_csv(run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [30, 60]
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert result.final_step == 60 and result.best["step"] in (30, 60)
    # The training-time Keras metric equals the NumPy evaluation of the saved model.
    report = evaluate(sample(4, "valid"), upscaler(load_model(run / "last.keras"), 4, backend="function"),
                      progress=False)
    assert report.psnr == pytest.approx(float(rows[1]["val_psnr"]), abs=1e-4)
    assert report.ssim == pytest.approx(float(rows[1]["val_ssim"]), abs=1e-5)
    # TensorBoard has the validation scalars and the image strips.
    tags = set()
    for event_file in (run / "logs" / "validation").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags |= {v.tag for v in event.summary.value}
    assert {"psnr", "ssim", "bicubic | SR | HR"} <= tags


def test_mixed_precision_run_trains_and_restores_the_policy(tmp_path):
    config = tiny_config(tmp_path, steps=20, eval_every=10, checkpoint_every=10, mixed_precision=True)
    result = train(config, log=lambda *_: None)
    assert keras.mixed_precision.global_policy().name == "float32"
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert float(rows[1]["loss"]) < float(rows[0]["loss"]) and result.final_step == 20
    model = load_model(tmp_path / "run" / "last.keras")
    expected = "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"  # --mixed-precision alone: auto
    assert model.get_layer("head").compute_dtype == expected
    assert model.output.dtype == "float32"


def test_an_srvgg_run_trains_at_the_size_asked_for_and_resumes_at_it(tmp_path):
    args = ["--arch", "srvgg", "--convs", "3", "--features", "8", "--dataset", "sample", "--patch-size", "16",
            "--batch-size", "4", "--steps", "12", "--eval-every", "12", "--checkpoint-every", "6", "--eval-crop", "48",
            "--output", str(tmp_path / "run")]
    config, _ = config_from_args(args)
    result = train(config, log=lambda *_: None)
    model = load_model(tmp_path / "run" / "last.keras")
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.PReLU)] == [
        "head_prelu", "body_prelu0", "body_prelu1", "body_prelu2"]
    assert model.get_layer("head").kernel.shape == (3, 3, 3, 8) and result.final_step == 12
    resumed, _ = config_from_args(["--output", str(tmp_path / "run"), "--resume", "--steps", "18"])
    assert (resumed.arch, resumed.convs, resumed.features) == ("srvgg", 3, 8)


def test_learning_rate_halves_every_n_steps():
    optimizer = make_optimizer(TrainConfig(lr=1e-3, halve_every=100).resolved())
    schedule = optimizer._learning_rate
    assert [float(schedule(s)) for s in (0, 99, 100, 250)] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])


def test_resume_after_kill_continues_at_the_saved_step(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "tfsr.train", "--arch", "wdsr_b", "--dataset", "sample", "--blocks", "2",
               "--features", "16", "--patch-size", "16", "--batch-size", "4", "--steps", "100000",
               "--checkpoint-every", "5", "--eval-every", "100000", "--halve-every", "7",
               "--eval-crop", "48", "--output", str(run)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            state = run / "checkpoint.json"
            if state.exists() and json.loads(state.read_text())["step"] >= 10:
                break
            time.sleep(0.5)
        else:
            pytest.fail("no checkpoint after 240 s")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    saved = json.loads((run / "checkpoint.json").read_text())["step"]
    assert saved % 5 == 0
    config, _ = config_from_args(["--output", str(run), "--resume", "--steps", str(saved + 5)])
    assert config.halve_every == 7 and config.features == 16
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["step"] = int(self.model.optimizer.iterations.numpy())
            seen["lr"] = float(self.model.optimizer.learning_rate.numpy())
            seen["adam_m"] = float(np.abs(self.model.optimizer.variables[2].numpy()).sum())

    result = train(config, resume=True, log=lambda *_: None, extra_callbacks=[Probe()])
    assert result.start_step == saved and seen["step"] == saved
    assert seen["lr"] == pytest.approx(1e-3 * 0.5 ** (saved // 7))
    assert seen["adam_m"] > 0  # the optimizer's moments came back, not fresh zeros
    assert result.final_step == saved + 5


def test_nan_loss_stops_with_the_last_good_checkpoint_intact(tmp_path):
    class Poison(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 12:
                kernel = self.model.net.get_layer("head").layer.kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    config = tiny_config(tmp_path, steps=40, eval_every=40, checkpoint_every=10)
    with pytest.raises(TrainingError, match=r"NaN/inf at step 13.*step 10"):
        train(config, log=lambda *_: None, extra_callbacks=[Poison()])
    run = tmp_path / "run"
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 10
    trainer = Trainer(build("wdsr_b", 4, blocks=2, features=16))
    trainer.compile(make_optimizer(config.resolved()), "mae")
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.load_weights(run / "checkpoint.weights.h5")
    assert int(trainer.optimizer.iterations.numpy()) == 10
    assert all(np.isfinite(w).all() for w in trainer.net.get_weights())
    assert not (run / "last.keras").exists()


def test_a_run_whose_length_is_no_multiple_of_its_periods_keeps_long_epochs(tmp_path):
    from tfsr.training.run import _epoch_length
    config = tiny_config(tmp_path, steps=13, eval_every=5, checkpoint_every=5)
    assert _epoch_length(config, 0) == 5  # gcd with the 13 steps would be 1: epoch-end work every step
    result = train(config, log=lambda *_: None)
    assert result.final_step == 13
    assert [int(row["step"]) for row in read_csv(tmp_path / "run" / "metrics.csv")] == [5, 10, 13]
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"] == 13


def test_init_from_copies_layers_whose_shapes_match(tmp_path):
    x2 = build("wdsr_a", 2, blocks=2, features=8)
    x2.save(tmp_path / "x2.keras")
    x4 = build("wdsr_a", 4, blocks=2, features=8)
    copied, grown, skipped = copy_matching_layers(tmp_path / "x2.keras", x4)
    assert set(skipped) == {"tail", "skip"} and "shapes differ" in skipped["tail"] and not grown
    assert "body_block1_reduce" in copied and "head" in copied
    for name in copied:
        for a, b in zip(x2.get_layer(name).get_weights(), x4.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_init_from_a_narrower_model_grows_it_keeping_its_output(tmp_path):
    narrow = build("wdsr_b", 4, blocks=2, features=8)
    narrow.save(tmp_path / "narrow.keras")
    wide = build("wdsr_b", 4, blocks=2, features=16)
    copied, grown, skipped = copy_matching_layers(tmp_path / "narrow.keras", wide)
    assert not skipped and copied == ["skip"] and {"head", "body_block1_reduce", "tail"} <= set(grown)
    lr = np.random.default_rng(1).uniform(0, 255, (1, 10, 10, 3)).astype("float32")
    np.testing.assert_allclose(wide(lr), narrow(lr), atol=1e-3)
    head = wide.get_layer("head").layer.kernel.numpy()  # v of the weight-normalised conv
    np.testing.assert_array_equal(head[..., :8], narrow.get_layer("head").layer.kernel.numpy())
    assert np.abs(head[..., 8:]).min() > 0  # new channels start random, so they can learn
    assert not wide.get_layer("tail").layer.kernel.numpy()[:, :, 8:, :].any()  # old outputs ignore them


def test_init_from_a_narrower_model_that_cannot_be_grown_exactly_is_an_error(tmp_path):
    narrow = build("edsr_baseline", 4, blocks=2, features=8)
    narrow.save(tmp_path / "narrow.keras")
    wide = build("edsr_baseline", 4, blocks=2, features=16)  # its pixel shuffles interleave the channels
    with pytest.raises(ConfigError, match="output differs from the source's"):
        copy_matching_layers(tmp_path / "narrow.keras", wide)


def test_mdsr_step_updates_only_the_batch_scale(tmp_path):
    net = build("mdsr_baseline", None, blocks=1, features=8)
    trainer = MultiScaleTrainer(net)
    trainer.compile(keras.optimizers.Adam(1e-2), "mae")
    before = {v.path: v.numpy().copy() for v in trainer.trainable_variables}
    lr = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    trainer.fit(lr, np.zeros((2, 24, 24, 3), "float32"), epochs=1, verbose=0)  # an x3 batch
    changed = {v.path for v in trainer.trainable_variables if not np.array_equal(before[v.path], v.numpy())}
    assert any("pre_x3" in p for p in changed) and any("upsample_x3" in p for p in changed)
    assert any(p.startswith("body") or "/body" in p or "head" in p for p in changed)
    assert not any("x2" in p or "x4" in p for p in changed)


def test_config_file_then_flags(tmp_path):
    (tmp_path / "c.yaml").write_text("arch: edsr_baseline\nscale: 2\nsteps: 77\nlr: 0.0005\n")
    config, _ = config_from_args(["--config", str(tmp_path / "c.yaml"), "--steps", "88"])
    assert (config.arch, config.scale, config.steps, config.lr) == ("edsr_baseline", 2, 88, 0.0005)
    (tmp_path / "bad.yaml").write_text("arch: edsr\nwidth: 3\n")
    from tfsr.cli import UserError
    with pytest.raises(UserError, match="unknown option.*width"):
        config_from_args(["--config", str(tmp_path / "bad.yaml")])


def test_cli_reports_bad_dataset_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = subprocess.run([sys.executable, "-m", "tfsr.train", "--dataset", str(empty), "--output",
                          str(tmp_path / "run"), "--eval-dataset", str(empty)],
                         check=False, capture_output=True, text=True)
    assert out.returncode == 2
    expected = f"error: {empty}: no images found (looked for .png, .jpg, .jpeg, .bmp, .webp)"
    assert out.stderr.strip().splitlines()[-1] == expected


def test_cosine_schedule_warms_up_and_ends_at_zero():
    from tfsr.training.optimization import LearningRate
    schedule = LearningRate(1e-3, "cosine", total_steps=110, warmup_steps=10)
    assert float(schedule(0)) == pytest.approx(1e-4)  # warm-up: lr·(step+1)/10
    assert float(schedule(9)) == pytest.approx(1e-3)
    assert float(schedule(60)) == pytest.approx(0.5e-3)  # half-way through the decay
    assert float(schedule(109)) == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 99 / 100)), rel=1e-3)
    assert float(schedule(110)) == 0.0 and float(schedule(500)) == 0.0
    schedule.fit_to(210)  # a time budget refits the length in place
    assert float(schedule(110)) == pytest.approx(0.5e-3)


def test_durations_parse():
    from tfsr.training.optimization import format_duration, parse_duration
    assert [parse_duration(t) for t in ("2h30m", "90m", "45s", "1.5h", "3600", 12)] == [9000, 5400, 45, 5400,
                                                                                      3600, 12]
    assert format_duration(9000) == "2h30m"
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_ema_validates_and_saves_the_average_and_resumes_exactly(tmp_path):
    config = tiny_config(tmp_path, steps=20, eval_every=10, checkpoint_every=10, ema=0.9, eval_crop=None)
    train(config, log=lambda *_: None)
    run = tmp_path / "run"
    trainer = Trainer(build("wdsr_b", 4, blocks=2, features=16))
    trainer.compile(make_optimizer(config.resolved()), "mae")
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.load_weights(run / "checkpoint.weights.h5")
    raw = [v.numpy() for v in trainer.trainable_variables]
    average = [v.numpy() for v in trainer.optimizer._model_variables_moving_average]
    last = load_model(run / "last.keras")
    assert len(last.trainable_variables) == len(average)
    for saved, mean in zip(last.trainable_variables, average):  # last.keras: the average; checkpoint: raw
        np.testing.assert_allclose(saved.numpy(), mean, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(r, a) for r, a in zip(raw, average))
    # The validation of step 20 scored the averaged weights: the saved model reproduces it.
    rows = read_csv(run / "metrics.csv")
    report = evaluate(sample(4, "valid"), upscaler(last, 4, backend="function"), progress=False)
    assert float(rows[-1]["val_psnr"]) == pytest.approx(report.psnr, abs=1e-4)


class StepClock(keras.callbacks.Callback):
    """The training clocks, advanced 0.1 s a step and standing still otherwise: time budgets become exact.

    (A budget test on the wall clock stops wherever a busy machine lets it.)
    """

    def __init__(self, monkeypatch):
        super().__init__()
        from tfsr.training import callbacks, run
        self.now = 0.0
        for module in (callbacks, run):
            monkeypatch.setattr(module, "time", self)

    def on_train_batch_end(self, batch, logs=None):
        self.now += 0.1

    def monotonic(self):
        return self.now

    perf_counter = monotonic
    time = staticmethod(time.time)


def test_time_budget_fits_the_cosine_and_stops_cleanly(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, steps=None, schedule="cosine", time_budget="75s", eval_every=100,
                         checkpoint_every=100)
    result = train(config, log=lambda *_: None, extra_callbacks=[StepClock(monkeypatch)])
    run = tmp_path / "run"
    fitted = json.loads((run / "config.json").read_text())["steps"]
    # Timed over steps 10-40: 0.1 s a step + validation (its first, unmeasured, taken as 5 s) spread over 100
    # steps = 0.15 s; reserve 1.5 · 5 s + 10 s; so 0.97 · (75 − 4 − 17.5) s / 0.15 s → 340 more steps.
    assert fitted == 380 and result.final_step == 380 and not result.budget_expired
    assert json.loads((run / "checkpoint.json").read_text())["step"] == fitted  # checkpointed at the end
    rows = read_csv(run / "metrics.csv")
    assert int(rows[-1]["step"]) == fitted and float(rows[-1]["lr"]) == 0.0  # validated at the end, lr decayed


def test_time_budget_stops_a_long_run_and_resume_continues(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, steps=100_000, time_budget="40s", eval_every=1000, checkpoint_every=1000)
    result = train(config, log=lambda *_: None, extra_callbacks=[StepClock(monkeypatch)])
    # Epochs of 10 steps (1 s); the run stops at the first epoch end after which one more epoch and the
    # reserve (1.5 · 5 s + 10 s) would pass 40 s: at 22 s, step 220.
    assert result.budget_expired and result.final_step == 220
    saved = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"]
    assert saved == 220 and (tmp_path / "run" / "last.keras").is_file()
    monkeypatch.undo()  # the real clocks again
    config, _ = config_from_args(["--output", str(tmp_path / "run"), "--resume", "--steps", str(saved + 10)])
    assert config.time_budget is None  # a budget belongs to one invocation
    assert train(config, resume=True, log=lambda *_: None).final_step == saved + 10


def test_a_moved_run_resumes_in_its_new_folder(tmp_path):
    train(tiny_config(tmp_path, steps=10, eval_every=10, checkpoint_every=10), log=lambda *_: None)
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    (tmp_path / "run").rename(moved)
    config, _ = config_from_args(["--output", str(moved), "--resume", "--steps", "20"])
    assert config.output == str(moved)
    result = train(config, resume=True, log=lambda *_: None)
    assert result.start_step == 10 and result.final_step == 20
    assert json.loads((moved / "checkpoint.json").read_text())["step"] == 20
    assert json.loads((moved / "config.json").read_text())["output"] == str(moved)
    assert not (tmp_path / "run").exists()


def test_a_damaged_checkpoint_is_a_one_line_error(tmp_path):
    train(tiny_config(tmp_path, steps=10, eval_every=10, checkpoint_every=10), log=lambda *_: None)
    weights = tmp_path / "run" / "checkpoint.weights.h5"
    weights.write_bytes(weights.read_bytes()[:5000])  # a truncated copy
    out = subprocess.run([sys.executable, "-m", "tfsr.train", "--output", str(tmp_path / "run"), "--resume",
                          "--steps", "20"], check=False, capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {weights}: damaged checkpoint")
    assert "git checkout" in lines[0]
    assert len(weights.read_bytes()) == 5000  # nothing overwritten


def test_weight_average_warms_up():
    """Early averages follow training instead of staying near the initial weights."""
    from tfsr.training.optimization import AveragingAdam
    w = keras.Variable(np.zeros(3, "float32"))
    optimizer = AveragingAdam(0.1, ema_momentum=0.999)
    optimizer.build([w])
    expected = np.zeros(3)  # the average starts at the initial weights
    for t in range(50):
        optimizer.apply([np.ones(3, "float32")], [w])  # w moves by -0.1 per step
        m = min(0.999, (1 + t) / (10 + t))
        expected = m * expected + (1 - m) * w.numpy()
        np.testing.assert_allclose(optimizer._model_variables_moving_average[0].numpy(), expected, rtol=1e-5)
    average = optimizer._model_variables_moving_average[0].numpy()
    assert average[0] < -3.0  # plain Keras EMA (0.999) would still be near 0: -0.1 * 50 * 0.05


def test_init_from_a_run_folder_takes_its_checkpoint(tmp_path):
    train(tiny_config(tmp_path, arch="wdsr_b", scale=2, steps=10, eval_every=10, checkpoint_every=10),
          log=lambda *_: None)
    from tfsr.training.assembly import checkpoint_model
    x2 = checkpoint_model(tmp_path / "run")
    last = load_model(tmp_path / "run" / "last.keras")  # no --ema: the checkpoint's raw weights
    for a, b in zip(x2.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(a, b)
    x4 = build("wdsr_b", 4, blocks=2, features=16)
    copied, grown, skipped = copy_matching_layers(tmp_path / "run", x4)
    assert set(skipped) == {"tail", "skip"} and "body_block1_reduce" in copied and not grown
    for name in copied:
        for a, b in zip(x2.get_layer(name).get_weights(), x4.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_skipped_images_are_left_out_of_the_run_and_its_summary(tmp_path):
    from conftest import random_image

    from tfsr.data.images import SkippedWarning, write_image
    rng = np.random.default_rng(0)
    for name, side in (("a", 64), ("b", 72), ("c", 68), ("tiny", 20)):
        write_image(tmp_path / "imgs" / f"{name}.png", random_image(rng, side, side))
    lines = []
    config = tiny_config(tmp_path, dataset=str(tmp_path / "imgs"), eval_dataset="sample", steps=2, eval_every=2,
                         checkpoint_every=2, skip_bad_images=True)
    with pytest.warns(SkippedWarning) as caught:
        train(config, log=lines.append)
    assert "(3 images)" in lines[0] and "imgs" in lines[0]
    assert sum("tiny.png" in str(w.message) for w in caught) == 1  # checked once, not once per pipeline


def test_a_run_trains_on_realesrgan_degraded_patches_and_shows_them(tmp_path):
    from tfsr.training.assembly import preview_crops as _preview_crops
    from tfsr.training.assembly import validation_data
    config = tiny_config(tmp_path, steps=40, eval_every=20, checkpoint_every=20, degradation="realesrgan",
                         sharpen_target=True)
    result = train(config, log=lambda *_: None)
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert float(rows[1]["loss"]) < float(rows[0]["loss"]) and result.final_step == 40
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["degradation"] == "realesrgan" and stored["sharpen_target"] is True
    # Validation (and the TensorBoard strips) see the chain's LR, one fixed draw per image.
    source, _ = validation_data(config.resolved())
    degraded_lr, _ = source.load(0)
    clean_lr, _ = sample(4, "valid").load(0)
    assert np.abs(degraded_lr.astype(float) - clean_lr).mean() > 1
    _, lr, _ = _preview_crops(source, 4)[0]
    h, w = clean_lr.shape[:2]
    y, x = (h - 32) // 2, (w - 32) // 2
    np.testing.assert_array_equal(lr, degraded_lr[y:y + 32, x:x + 32])


def test_resume_on_another_validation_set_chooses_the_best_model_anew(tmp_path):
    train(tiny_config(tmp_path, steps=20, eval_every=10, checkpoint_every=10), log=lambda *_: None)
    first = json.loads((tmp_path / "run" / "best.json").read_text())
    assert "sample/valid" in first["validation"]
    other = tmp_path / "other"
    other.mkdir()
    import shutil
    shutil.copy(sample(4, "valid").pairs[0].hr, other / "one.png")
    config, _ = config_from_args(["--output", str(tmp_path / "run"), "--resume", "--steps", "30",
                                  "--eval-dataset", str(other)])
    train(config, resume=True, log=lambda *_: None)
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["step"] == 30 and "other, 1 images" in best["validation"]  # not compared with the old set's score
    assert json.loads((tmp_path / "run" / "best.previous.json").read_text()) == first
    assert (tmp_path / "run" / "best.previous.keras").is_file()


def test_init_from_a_model_sharing_no_layer_is_an_error(tmp_path):
    from tfsr.training import ConfigError
    build("edsr_baseline", 2, blocks=1, features=8).save(tmp_path / "edsr.keras")
    with pytest.raises(ConfigError, match="no layer of it matches this wdsr_b_x4"):
        copy_matching_layers(tmp_path / "edsr.keras", build("wdsr_b", 4, blocks=2, features=8))


def test_mdsr_trains_only_at_the_scales_it_has_branches_for(tmp_path):
    from tfsr.training import ConfigError
    with pytest.raises(ConfigError, match="x2, x3, x4; --scale 8"):
        tiny_config(tmp_path, arch="mdsr_baseline", scale=8).resolved().validate()
    trainer = MultiScaleTrainer(build("mdsr_baseline", None, blocks=1, features=8))
    trainer.compile(keras.optimizers.Adam(1e-2), "mae")
    lr = np.zeros((2, 4, 4, 3), "float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match="a batch at a scale with no branch"):
        trainer.fit(lr, np.zeros((2, 20, 20, 3), "float32"), epochs=1, verbose=0)  # an x5 batch


def test_resume_may_take_on_scale_augmentation_and_records_when(tmp_path):
    """A late recipe change is allowed on --resume and written into the run's config; others are refused."""
    train(tiny_config(tmp_path, steps=10, eval_every=10, checkpoint_every=10), log=lambda *_: None)
    run = str(tmp_path / "run")
    with pytest.raises(cli.UserError, match="cannot change lr"):  # the run's identity
        config_from_args(["--output", run, "--resume", "--lr", "0.5"])
    config, _ = config_from_args(["--output", run, "--resume", "--steps", "20", "--scale-augment", "0.8"])
    assert config.scale_augment == [0.8] and config.changes == [{"step": 10, "scale_augment": [0.8]}]
    lines = []
    assert train(config, resume=True, log=lines.append).final_step == 20
    assert "changed    from step 10: scale_augment=[0.8]" in lines[0]
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["scale_augment"] == [0.8] and stored["changes"] == [{"step": 10, "scale_augment": [0.8]}]
    config, _ = config_from_args(["--output", run, "--resume", "--steps", "30"])  # kept, not recorded again
    assert config.scale_augment == [0.8] and config.changes == [{"step": 10, "scale_augment": [0.8]}]
    (tmp_path / "late.json").write_text('{"scale-augment": [0.7]}')  # a config file spells it as the flag
    config, _ = config_from_args(["--output", run, "--resume", "--config", str(tmp_path / "late.json")])
    assert config.changes == [{"step": 10, "scale_augment": [0.8]}, {"step": 20, "scale_augment": [0.7]}]


def test_the_library_keeps_the_resume_rules(tmp_path):
    """train(resume=True) refuses a config that is not the run's; a typo in a resume config file is one line."""
    train(tiny_config(tmp_path, steps=10, eval_every=10, checkpoint_every=10), log=lambda *_: None)
    run = tmp_path / "run"
    before = (run / "config.json").read_text()
    with pytest.raises(ConfigError, match="cannot change loss, lr"):
        train(tiny_config(tmp_path, steps=20, eval_every=10, checkpoint_every=10, lr=0.5, loss="l2"), resume=True,
              log=lambda *_: None)
    assert (run / "config.json").read_text() == before  # nothing rewritten
    assert resumed_config(run, {"steps": 20}).steps == 20
    (tmp_path / "typo.json").write_text('{"stpes": 20}')
    out = subprocess.run([sys.executable, "-m", "tfsr.train", "--output", str(run), "--resume", "--config",
                          str(tmp_path / "typo.json")], check=False, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: {tmp_path / 'typo.json'}: unknown option(s) stpes"]


def test_a_run_folder_written_before_the_split_resumes_as_it_would_have(tmp_path):
    """tests/data/run_before_split: a run stopped at step 2 by the code before training/ was split and every loss
    term moved to [0, 1] (commit cdc9f66), and that code's own model after resuming it to step 4."""
    import shutil

    from tfsr.training import load_run_config
    fixture = Path(__file__).parent / "data" / "run_before_split"
    run = tmp_path / "run"
    shutil.copytree(fixture, run)
    stored = load_run_config(run)
    assert stored.loss == "l1" and stored.format == 1 and stored.loss_spec == {"l1": 255.0}  # still [0, 255]
    config, _ = config_from_args(["--output", str(run), "--resume", "--steps", "4"])
    result = train(config, resume=True, log=lambda *_: None)
    assert (result.start_step, result.final_step) == (2, 4)
    resumed, expected = load_model(run / "last.keras"), load_model(fixture / "expected_step4.keras")
    # Two Adam steps of lr 1e-3 from the same checkpoint and patches: equal but for the CPU's float rounding
    # (the fixture was made on an AMD EPYC; 1e-4 is far below one step's 1e-3 move).
    for a, b in zip(resumed.get_weights(), expected.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert json.loads((run / "config.json").read_text())["format"] == 1
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert 0.9 < float(rows[1]["val_loss"]) / float(rows[0]["val_loss"]) < 1.1  # the same loss, on [0, 255]
