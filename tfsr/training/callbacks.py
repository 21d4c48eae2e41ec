"""Keras callbacks of a training run, all keyed on the global step.

The global step is the optimizer's ``iterations``, which checkpoints save
and restore, so logs, learning rate and checkpoints continue seamlessly
after ``--resume``.
"""
import contextlib
import csv
import hashlib
import json
import math
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfsr import progress
from tfsr.color import as_uint8
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


class StopAtStep(keras.callbacks.Callback):
    """Ends the run at step ``last``, mid-epoch if it falls there (the epoch-end actions still run)."""

    def __init__(self, trainer, last):
        super().__init__()
        self.trainer, self.last = trainer, last

    def on_train_batch_end(self, batch, logs=None):
        if global_step(self.trainer) >= self.last:
            self.trainer.stop_training = True


def finite(logs):
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


def due(model, step, every, total):
    """Whether an every-N-steps action is due: on its period, at the last step, or when the run stops early."""
    return step % every == 0 or step >= total or model.stop_training


@contextlib.contextmanager
def averaged_weights(trainer):
    """With ``--ema``: the moving average of the weights in place of the raw ones, restored after."""
    optimizer = getattr(trainer.optimizer, "inner_optimizer", trainer.optimizer)  # under loss scaling
    if not optimizer.use_ema:
        yield
        return
    variables = trainer.net.trainable_variables  # the network's (a GAN trainer also holds a discriminator)
    raw = [v.numpy() for v in variables]
    optimizer.finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, raw):
            variable.assign(value)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from; the message names the file and what to do."""


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Checkpoint(keras.callbacks.Callback):
    """Every ``every`` steps and when the run stops: weights + optimizer state, written atomically.

    ``checkpoint.weights.h5`` holds the model and the optimizer (step
    counter, moments, moving average); ``checkpoint.json`` says which step
    it is and the file's size and SHA-256, so a damaged copy is recognised
    before it is loaded. A diverged epoch (non-finite loss) is never saved.
    """

    def __init__(self, output, every, total, trainer):
        super().__init__()
        self.output, self.every, self.total, self.trainer = Path(output), every, total, trainer
        self.seconds = 0.0  # duration of the last save

    @property
    def weights_path(self):
        return self.output / "checkpoint.weights.h5"

    def on_epoch_end(self, epoch, logs=None):
        step = global_step(self.trainer)
        if finite(logs) and due(self.trainer, step, self.every, self.total):
            self.save(step)

    def save(self, step):
        started = time.perf_counter()
        with atomic_output(self.weights_path) as tmp:
            self.trainer.save_weights(tmp)
            record = {"step": step, "time": time.time(), "bytes": tmp.stat().st_size, "sha256": _sha256(tmp)}
        with atomic_output(self.output / "checkpoint.json") as tmp:
            tmp.write_text(json.dumps(record))
        self.seconds = time.perf_counter() - started

    @staticmethod
    def saved_step(output):
        path = Path(output) / "checkpoint.json"
        return json.loads(path.read_text())["step"] if path.exists() else None

    @staticmethod
    def restore(output, trainer):
        """Load the checkpoint of ``output`` into ``trainer``; `CheckpointError` if it is damaged."""
        path = Path(output) / "checkpoint.weights.h5"
        advice = (f"restore it (e.g. `git checkout -- {path}` or copy it again) or start a new run "
                  f"with another --output")
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint missing; {advice}")
        record = json.loads((Path(output) / "checkpoint.json").read_text())
        size = path.stat().st_size
        if "bytes" in record and (size != record["bytes"] or _sha256(path) != record["sha256"]):
            raise CheckpointError(f"{path}: damaged checkpoint ({size:,} bytes, SHA-256 differs from the "
                                  f"{record['bytes']:,} bytes written at step {record['step']}); {advice}")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trainer.load_weights(path)
            # Keras only warns when a part of the model (a discriminator, an optimizer) is not in the file.
            skipped = [str(w.message) for w in caught if "Skipping" in str(w.message) or "mismatch" in str(w.message)]
            if skipped:
                raise ValueError(skipped[0])
        except Exception as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{path}: damaged checkpoint, cannot be read ({reason}); {advice}") from None


class StepProgress(keras.callbacks.Callback):
    """One progress bar over the whole run: step, steps/s, ETA, loss, lr.

    ``total_steps`` None: not known yet (a schedule fitted to a time
    budget); `set_total` gives it later.
    """

    def __init__(self, total_steps, trainer):
        super().__init__()
        self.total, self.trainer = total_steps, trainer
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = progress.progress_bar(total=self.total, initial=global_step(self.trainer), unit="step", dynamic_ncols=True)

    def set_total(self, total):
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(global_step(self.trainer) - self.bar.n)
        self.bar.set_postfix(loss=f"{float(logs.get('loss', np.nan)):.4f}", lr=f"{current_lr(self.trainer):.3g}",
                             refresh=False)

    def on_train_end(self, logs=None):
        self.bar.close()


class Validation(keras.callbacks.Callback):
    """Validation PSNR/SSIM every ``every`` steps; keeps the best model.

    With ``perceptual`` (an adversarial run) it also scores NIQE and the
    pixel-shuffle checkerboard (`tfsr.spectrum.grid_peak`) of the SR images,
    and the best model is the one with the lowest NIQE among those whose PSNR
    is at least ``psnr_floor`` (bicubic's): a GAN may trade fidelity for
    detail, but not below the simplest upscaler.

    Scores with ``evaluator`` (a compiled model sharing the trained weights,
    with the PSNR/SSIM metrics), writes ``best.keras`` when validation PSNR
    improves, appends to ``metrics.csv`` and logs scalars and LR-bicubic /
    SR / HR image strips to TensorBoard. ``validation`` names the
    validation set and its LR (``best.json`` keeps it): a resumed run
    validating on something else does not compare its scores with the old
    best, which is kept as ``best.previous.keras``/``.json``.
    """

    def __init__(self, output, every, total_steps, trainer, net, evaluator, val_data, preview, writers,
                 validation=None, perceptual=False, psnr_floor=None):
        super().__init__()
        self.perceptual, self.psnr_floor = perceptual, psnr_floor
        self.output, self.every, self.total = Path(output), every, total_steps
        self.trainer, self.net, self.evaluator = trainer, net, evaluator
        self.val_data, self.preview, self.writers = val_data, preview, writers
        self.validation = validation
        self.best = self._read_best()
        self.history = []
        self.seconds = 0.0  # duration of the last validation

    def _read_best(self):
        path = self.output / "best.json"
        if not path.exists():
            return None
        best = json.loads(path.read_text())
        if best.get("validation", self.validation) == self.validation:
            return best
        for suffix in ("keras", "json"):
            if (self.output / f"best.{suffix}").exists():
                (self.output / f"best.{suffix}").replace(self.output / f"best.previous.{suffix}")
        progress.write(f"validation changed (best.json was chosen on {best['validation']}); the best model is "
                       f"chosen anew, the old one kept as best.previous.keras")
        return None

    def on_epoch_end(self, epoch, logs=None):
        step = global_step(self.trainer)
        if finite(logs) and due(self.trainer, step, self.every, self.total):
            with averaged_weights(self.trainer):
                self.validate(step, logs or {})

    def validate(self, step, logs):
        """Score the current weights; with ``--ema``, call inside `averaged_weights`."""
        started = time.perf_counter()
        scores = self.evaluator.evaluate(self.val_data, verbose=0, return_dict=True)
        row = {"step": step, "loss": logs.get("loss", float("nan")), "lr": current_lr(self.trainer),
               "val_psnr": scores["psnr"], "val_ssim": scores["ssim"], "val_loss": scores["loss"],
               "time": time.time()}
        if self.perceptual:
            row.update(self._perceptual_scores())
        self.history.append(row)
        self._append_csv(row)
        with self.writers["validation"].as_default(step=step):
            for name in ("psnr", "ssim", "loss", "niqe", "grid_peak"):
                if f"val_{name}" in row:
                    tf.summary.scalar(name, row[f"val_{name}"])
            tf.summary.image("bicubic | SR | HR", self._preview_strips(), max_outputs=len(self.preview))
        improved = self._better(row)
        if improved:
            save_atomic(self.net, self.output / "best.keras")
            self.best = {"step": step, **{k: v for k, v in row.items() if k.startswith("val_") and k != "val_loss"},
                         "validation": self.validation}
            with atomic_output(self.output / "best.json") as tmp:
                tmp.write_text(json.dumps(self.best))
        niqe = f", NIQE {row['val_niqe']:.3f}, grid {row['val_grid_peak']:.1f} dB" if self.perceptual else ""
        best = f"NIQE {self.best['val_niqe']:.3f}" if self.perceptual and self.best else \
            f"{self.best['val_psnr']:.2f}" if self.best else "none"
        progress.write(f"step {step}: validation PSNR {row['val_psnr']:.2f} dB, SSIM {row['val_ssim']:.4f}{niqe}"
                       + ("  (best, saved best.keras)" if improved else f"  (best {best})"))
        self.seconds = time.perf_counter() - started

    def _better(self, row):
        if self.best is None:
            return True
        if not self.perceptual:
            return row["val_psnr"] > self.best["val_psnr"]
        return self._rank(row) > self._rank(self.best)

    def _rank(self, row):
        """Above the PSNR floor beats below it; above it, lower NIQE wins; below it, higher PSNR."""
        above = self.psnr_floor is None or row["val_psnr"] >= self.psnr_floor
        return (above, -row.get("val_niqe", float("inf")) if above else row["val_psnr"])

    def _perceptual_scores(self):
        """Mean NIQE and checkerboard peak (dB) of the SR validation images large enough for them."""
        from tfsr.no_reference import no_reference_scores, scored_mean
        rows = []
        for lr, _ in self.val_data:
            sr = as_uint8(self.evaluator(lr, training=False).numpy()[0])
            rows.append(no_reference_scores(sr, sr.shape[0] // lr.shape[1], ("niqe", "grid")))
        return {"val_niqe": scored_mean(r["niqe"] for r in rows), "val_grid_peak": scored_mean(r["grid"] for r in rows)}

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
    """The step's logs (the loss; an adversarial run's terms and discriminator loss) and the learning rate
    to TensorBoard every ``every`` steps."""

    def __init__(self, writer, trainer, every=50):
        super().__init__()
        self.writer, self.trainer, self.every = writer, trainer, every

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.trainer)
        if step % self.every == 0 and finite(logs):
            with self.writer.as_default(step=step):
                for name, value in (logs or {}).items():
                    tf.summary.scalar(name, float(np.reshape(value, -1)[0]))
                tf.summary.scalar("learning_rate", current_lr(self.trainer))


class TimeBudget(keras.callbacks.Callback):
    """Ends the run cleanly before ``deadline`` (a ``time.monotonic()`` value).

    Checked at each epoch end: the run stops when one more epoch, a final
    validation and the saves would not fit. Validation and Checkpoint come
    after this callback and see ``stop_training``, so the stopped step is
    validated and checkpointed like any other.

    With ``fit`` (the `LearningRate` of a cosine run without ``--steps``),
    the first ``measure`` steps after the first epoch are timed and the
    cosine is set to end at the last step that fits; ``on_fit(total)`` is
    told, and the run stops at that step.
    """

    def __init__(self, deadline, trainer, epoch_steps, validation=None, fit=None, on_fit=None, measure=30,
                 checkpoint=None):
        super().__init__()
        self.deadline, self.trainer, self.epoch_steps = deadline, trainer, epoch_steps
        self.validation, self.fit, self.on_fit, self.measure = validation, fit, on_fit, measure
        self.checkpoint = checkpoint
        self.total = None
        self.expired = False

    def on_train_begin(self, logs=None):
        self.mark = None  # (time, step) after the first epoch: tracing excluded

    def _reserve(self):
        """Seconds kept for the final validation and saves (the checkpoint, then the last model: about twice one save)."""
        validation = self.validation.seconds if self.validation is not None and self.validation.seconds else 5.0
        saves = 2 * self.checkpoint.seconds if self.checkpoint is not None else 0.0
        return 1.5 * (validation + saves) + 10.0

    def on_epoch_end(self, epoch, logs=None):
        now, step = time.monotonic(), global_step(self.trainer)
        if self.mark is None:  # the first epoch's time is mostly tracing: only stop if already out of time
            self.mark = (now, step)
            if now + self._reserve() > self.deadline:
                self.expired = self.model.stop_training = True
            return
        per_step = (now - self.mark[0]) / max(step - self.mark[1], 1)
        if self.fit is not None and self.total is None and step - self.mark[1] >= self.measure:
            if self.validation is not None:  # validations to come, spread over the steps
                per_step += (self.validation.seconds or 5.0) / self.validation.every
            spare = (self.deadline - now - self._reserve()) * 0.97
            total = step + max(int(spare / per_step) // self.epoch_steps * self.epoch_steps, 0)
            self.total = total
            self.fit.fit_to(total)
            if self.on_fit:
                self.on_fit(total, 1.0 / per_step)
        if self.total is not None and step >= self.total:
            self.model.stop_training = True
        elif now + self.epoch_steps * per_step + self._reserve() > self.deadline:
            self.expired = self.model.stop_training = True
