"""Distillation (--teacher): the step's target is the teachers' blended images, the teachers stay fixed, runs resume."""
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsr.models import build, load_model
from tfsr.training import ConfigError, TrainConfig, make_optimizer, resumed_config, train
from tfsr.training.distillation import DistillationTrainer
from tfsr.training.losses import make_loss


def tiny(seed, features=16):
    keras.utils.set_random_seed(seed)
    return build("wdsr_b", 4, blocks=2, features=features)


def overshooting_teacher():
    """x4 nearest neighbour, stretched to [-100, 410]: its images need clipping."""
    inputs = keras.Input((None, None, 3))
    stretched = keras.layers.Rescaling(2.0, offset=-100.0)(keras.layers.UpSampling2D(4)(inputs))
    return keras.Model(inputs, stretched)


def distiller(seed=0, weights=(0.25, 0.75)):
    trainer = DistillationTrainer(tiny(seed), [overshooting_teacher(), tiny(seed + 10, features=8)], weights)
    trainer.compile(make_optimizer(TrainConfig(lr=1e-3, ema=0.9).resolved()), make_loss("l1"))
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def batch(seed=1):
    lr = np.random.default_rng(seed).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    return tf.constant(lr), tf.zeros((2, 32, 32, 3))  # an HR the step must not learn


def values(variables):
    return [v.numpy().copy() for v in variables]


def test_a_step_learns_the_teachers_clipped_blend_not_the_hr_and_leaves_the_teachers_alone():
    trainer = distiller()
    lr, hr = batch()
    stretched, small = (t(lr).numpy() for t in trainer.teachers)
    assert stretched.min() < 0 and stretched.max() > 255  # so clipping matters below
    target = 0.25 * np.clip(stretched, 0, 255) + 0.75 * np.clip(small, 0, 255)
    expected = float(np.mean(np.abs(trainer.net(lr).numpy() - target))) / 255  # every loss term is on [0, 1]
    teacher_weights, student = values(trainer.teachers[1].weights), values(trainer.net.trainable_variables)
    logs = trainer.train_step((lr, hr))
    assert float(logs["loss"]) == pytest.approx(expected, rel=1e-5)
    for before, after in zip(teacher_weights, trainer.teachers[1].weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(student, trainer.net.trainable_variables))
    assert len(trainer.trainable_variables) == len(trainer.net.trainable_variables)


def test_resume_is_exact_and_keeps_the_teachers_of_the_checkpoint(tmp_path):
    first = distiller(seed=0)
    for step in range(3):
        first.train_step(batch(step))
    first.save_weights(tmp_path / "distil.weights.h5")
    second = distiller(seed=7)  # another student and another teacher: everything must come from the file
    second.load_weights(tmp_path / "distil.weights.h5")
    state = lambda t: t.net.weights + t.teachers[1].weights + t.optimizer.variables
    for a, b in zip(state(first), state(second), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    first.train_step(batch(9))
    second.train_step(batch(9))
    for a, b in zip(state(first), state(second), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


@pytest.fixture
def teacher_files(tmp_path):
    paths = []
    for seed in (1, 2):
        paths.append(str(tmp_path / f"teacher{seed}.keras"))
        tiny(seed, features=8).save(paths[-1])
    return paths


@pytest.mark.parametrize("teachers, options, message", [
    (1, dict(teacher_weights=[0.5, 0.5]), "2 weight\\(s\\) for 1 teacher"),
    (2, dict(teacher_weights=[0.6, 0.3]), "summing to 1"),
    (2, dict(teacher_weights=[1.2, -0.2]), "each between 0 and 1"),
    (0, dict(teacher_weights=[1.0]), "needs --teacher"),
    (1, dict(loss="l1:1,gan:0.1"), "not with --loss l1:1,gan:0.1"),
    (1, dict(arch="mdsr"), "not with mdsr"),
    (1, dict(scale=2), "upscales x4, not x2"),
])
def test_teachers_that_cannot_work_are_refused_before_the_run_starts(teacher_files, teachers, options, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(dataset="sample", teacher=teacher_files[:teachers] or None, **options).validate()


def test_a_missing_teacher_is_one_line_and_makes_no_run_folder(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tfsr.train", "--dataset", "sample", "--teacher", "wdsr_b_x4",
                          str(tmp_path / "gone.keras"), "--output", str(tmp_path / "run")],
                         check=False, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: --teacher {tmp_path / 'gone.keras'}: no such file or folder"]
    assert not (tmp_path / "run").exists()


def test_a_distillation_run_scores_niqe_records_its_blend_and_resumes_only_with_its_teachers(tmp_path,
                                                                                          teacher_files):
    config = TrainConfig(arch="wdsr_b", dataset="sample", blocks=2, features=8, patch_size=16, batch_size=4,
                         eval_crop=48, steps=4, eval_every=2, checkpoint_every=2, output=str(tmp_path / "run"),
                         teacher=teacher_files)
    train(config, log=lambda *_: None)
    stored = resumed_config(tmp_path / "run", {"steps": 6})
    assert stored.teacher == teacher_files and stored.teacher_weights == [0.5, 0.5]
    result = train(stored, resume=True, log=lambda *_: None)
    assert result.start_step == 4 and result.final_step == 6
    assert [row["step"] for row in result.history] == [6] and result.history[0]["val_niqe"] > 0
    with pytest.raises(ConfigError, match="cannot change teacher$"):
        resumed_config(tmp_path / "run", {"teacher": teacher_files[:1]})


def test_a_float16_distillation_run_trains_and_saves_a_mixed_precision_student(tmp_path, teacher_files):
    config = TrainConfig(arch="wdsr_b", dataset="sample", blocks=2, features=8, patch_size=16, batch_size=4,
                         eval_crop=48, steps=4, eval_every=4, checkpoint_every=4, output=str(tmp_path / "run"),
                         teacher=teacher_files, mixed_precision="float16")
    result = train(config, log=lambda *_: None)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert result.final_step == 4 and np.isfinite(float(result.history[0]["loss"]))
    student = load_model(tmp_path / "run" / "last.keras")
    assert student.get_layer("head").compute_dtype == "float16" and student.output.dtype == "float32"
