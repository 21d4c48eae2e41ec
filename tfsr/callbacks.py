"""Keras callbacks of a training run, all keyed on the global step.

The global step is the optimizer's ``iterations``, which checkpoints save
and restore, so logs, learning rate and checkpoints continue seamlessly
after ``--resume``.
"""
import csv
import json
import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfsr.data.images import atomic_output


def global_step(model):
    return int(model.optimizer.iterations.numpy())


def current_lr(model):
    lr = model.optimizer.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)


def save_atomic(model, path):
    """``model.save`` to ``path`` without ever leaving a half-written file."""
    with atomic_output(path) as tmp:
        model.save(tmp)


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, before anything is saved."""

    def __init__(self):
        super().__init__()
        self.diverged_at = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = global_step(self.model)
            self.model.stop_training = True


def finite(logs):
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


class Checkpoint(keras.callbacks.Callback):
    """Every ``every`` steps: weights + optimizer state, written atomically.

    ``checkpoint.weights.h5`` holds the model and the optimizer (with its
    step counter); ``checkpoint.json`` says which step it is. A diverged
    epoch (non-finite loss) is never saved.
    """

    def __init__(self, output, every, trainer):
        super().__init__()
        self.output, self.every, self.trainer = Path(output), every, trainer

    @property
    def weights_path(self):
        return self.output / "checkpoint.weights.h5"

    def on_epoch_end(self, epoch, logs=None):
        step = global_step(self.trainer)
        if finite(logs) and step % self.every == 0:
            self.save(step)

    def save(self, step):
        with atomic_output(self.weights_path) as tmp:
            self.trainer.save_weights(tmp)
        with atomic_output(self.output / "checkpoint.json") as tmp:
            tmp.write_text(json.dumps({"step": step, "time": time.time()}))

    @staticmethod
    def saved_step(output):
        path = Path(output) / "checkpoint.json"
        return json.loads(path.read_text())["step"] if path.exists() else None


class StepProgress(keras.callbacks.Callback):
    """One progress bar over the whole run: step, steps/s, ETA, loss, lr."""

    def __init__(self, total_steps, trainer):
        super().__init__()
        self.total, self.trainer = total_steps, trainer
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = tqdm(total=self.total, initial=global_step(self.trainer), unit="step", dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(global_step(self.trainer) - self.bar.n)
        self.bar.set_postfix(loss=f"{float(logs.get('loss', np.nan)):.4f}", lr=f"{current_lr(self.trainer):.3g}",
                             refresh=False)

    def on_train_end(self, logs=None):
        self.bar.close()


class Validation(keras.callbacks.Callback):
    """Validation PSNR/SSIM every ``every`` steps; keeps the best model.

    Scores with ``evaluator`` (a compiled model sharing the trained weights,
    with the PSNR/SSIM metrics), writes ``best.keras`` when validation PSNR
    improves, appends to ``metrics.csv`` and logs scalars and LR-bicubic /
    SR / HR image strips to TensorBoard.
    """

    def __init__(self, output, every, total_steps, trainer, net, evaluator, val_data, preview, writers):
        super().__init__()
        self.output, self.every, self.total = Path(output), every, total_steps
        self.trainer, self.net, self.evaluator = trainer, net, evaluator
        self.val_data, self.preview, self.writers = val_data, preview, writers
        self.best = self._read_best()
        self.history = []

    def _read_best(self):
        path = self.output / "best.json"
        return json.loads(path.read_text()) if path.exists() else None

    def on_epoch_end(self, epoch, logs=None):
        step = global_step(self.trainer)
        if finite(logs) and (step % self.every == 0 or step >= self.total):
            self.validate(step, logs or {})

    def validate(self, step, logs):
        scores = self.evaluator.evaluate(self.val_data, verbose=0, return_dict=True)
        row = {"step": step, "loss": logs.get("loss", float("nan")), "lr": current_lr(self.trainer),
               "val_psnr": scores["psnr"], "val_ssim": scores["ssim"], "val_loss": scores["loss"],
               "time": time.time()}
        self.history.append(row)
        self._append_csv(row)
        with self.writers["validation"].as_default(step=step):
            tf.summary.scalar("psnr", row["val_psnr"])
            tf.summary.scalar("ssim", row["val_ssim"])
            tf.summary.scalar("loss", row["val_loss"])
            tf.summary.image("bicubic | SR | HR", self._preview_strips(), max_outputs=len(self.preview))
        improved = self.best is None or row["val_psnr"] > self.best["val_psnr"]
        if improved:
            save_atomic(self.net, self.output / "best.keras")
            self.best = {"step": step, "val_psnr": row["val_psnr"], "val_ssim": row["val_ssim"]}
            with atomic_output(self.output / "best.json") as tmp:
                tmp.write_text(json.dumps(self.best))
        tqdm.write(f"step {step}: validation PSNR {row['val_psnr']:.2f} dB, SSIM {row['val_ssim']:.4f}"
              + ("  (best, saved best.keras)" if improved else f"  (best {self.best['val_psnr']:.2f})"))

    def _append_csv(self, row):
        path = self.output / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _preview_strips(self):
        strips = []
        for bicubic, lr, hr in self.preview:
            sr = np.clip(self.evaluator(lr[None], training=False).numpy()[0], 0, 255)
            strips.append(np.concatenate([bicubic, sr, hr], axis=1) / 255.0)
        return np.stack(strips).astype(np.float32)


class ScalarLogger(keras.callbacks.Callback):
    """Training loss and learning rate to TensorBoard every ``every`` steps."""

    def __init__(self, writer, trainer, every=50):
        super().__init__()
        self.writer, self.trainer, self.every = writer, trainer, every

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.trainer)
        if step % self.every == 0 and finite(logs):
            with self.writer.as_default(step=step):
                tf.summary.scalar("loss", float(logs["loss"]))
                tf.summary.scalar("learning_rate", current_lr(self.trainer))
