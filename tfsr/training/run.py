"""Training a model under ``model.fit`` with the papers' recipes: `train`.

`train` resolves and checks a `TrainConfig` (`tfsr.training.config`), builds
the data, the network and the callbacks (`tfsr.training.assembly`), runs
``fit`` and returns a `TrainResult`. A run lives in one output folder:

    config.json              the resolved options (``--resume`` reads them)
    checkpoint.weights.h5    model + optimizer state (moments, moving average), every N steps (atomic)
    checkpoint.json          the step, size and SHA-256 of that checkpoint
    best.keras / best.json   best validation so far (PSNR; GAN or teacher runs: NIQE, PSNR above bicubic)
    last.keras               the model at the end
    metrics.csv              one row per validation
    logs/                    TensorBoard: losses, LR, PSNR/SSIM, image strips
"""
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from tfsr import progress
from tfsr.data.sources import bicubic_upscale
from tfsr.evaluation import evaluate
from tfsr.models import get_arch, select_scale
from tfsr.models.complexity import count_params
from tfsr.training import callbacks as cb
from tfsr.training.assembly import (
    UNFITTED,
    compiled_trainer,
    make_evaluator,
    make_schedule,
    preview_crops,
    restore_checkpoint,
    training_data,
    validation_data,
)
from tfsr.training.config import ConfigError, check_resumable, write_config
from tfsr.training.growing import copy_matching_layers
from tfsr.training.optimization import parse_duration
from tfsr.training.precision import compute_dtype, dtype_policy
from tfsr.training.summaries import end_summary, start_summary, validation_identity
from tfsr.training.workers import lost_peer_message, strategy_for, worker_count, worker_index


@dataclass
class TrainResult:
    output: Path
    start_step: int
    final_step: int
    steps_per_second: float
    best: dict = None
    history: list = field(default_factory=list)
    bicubic_psnr: float = None
    bicubic_ssim: float = None
    diverged_at: int = None
    planned_steps: int = None
    budget_expired: bool = False


class TrainingError(RuntimeError):
    """Training could not go on (e.g. the loss diverged)."""


def _epoch_length(config, start):
    """Steps per Keras epoch: validation, checkpoints and time checks fall on epoch ends. The run's length
    need not be a multiple (`cb.StopAtStep` ends it mid-epoch), so 1,001 steps still run in long epochs."""
    budget_grain = 10 if config.time_budget is not None else 0  # a time budget is checked every 10 steps
    return math.gcd(config.eval_every, config.checkpoint_every, start, budget_grain)


def train(config, resume=False, log=print, extra_callbacks=()):
    """Train as ``config`` says; with ``resume``, continue from the checkpoint.

    ``extra_callbacks`` are Keras callbacks added after tfsr's own.

    Under ``multi_worker`` every worker runs this; worker 0 (the chief)
    validates and writes the run folder, worker i writes only its final
    model to ``<output>/worker-i``.
    """
    started = time.monotonic()
    config = config.resolved()
    config.validate()
    with dtype_policy(compute_dtype(config, log)):
        return _train(config, resume, log, extra_callbacks, started)


def _start_step(config, resume):
    """The step the run starts at: 0, or its checkpoint's under ``resume`` (checked to be the same run)."""
    output = Path(config.output)
    if not resume:
        if (output / "checkpoint.json").exists():
            raise ConfigError(f"{output}: already holds a run; use --resume to continue it or choose another --output")
        return 0
    start = cb.Checkpoint.saved_step(output)
    if start is None:
        raise ConfigError(f"{output}: no checkpoint to resume from")
    check_resumable(config, output)
    return start


def _train(config, resume, log, extra_callbacks, started):
    strategy = strategy_for(config.strategy)  # first: multi-worker setup precedes other TF ops
    workers, worker = worker_count(strategy), worker_index(strategy)
    chief = worker == 0
    shared_output = Path(config.output)
    output = shared_output if chief else shared_output / f"worker-{worker}"
    keras.utils.set_random_seed(config.seed)
    start = _start_step(config, resume) if chief or resume else 0

    # A resumed run draws fresh patches. The data comes first: a missing folder or a bad image stops the
    # run before its folder is made.
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(f"--batch-size {config.batch_size} is the global batch: it must divide evenly over "
                          f"the {strategy.num_replicas_in_sync} replicas")
    sources, train_data = training_data(config, seed=config.seed + start, shard=(workers, worker))
    val_source, val_data = validation_data(config)
    output.mkdir(parents=True, exist_ok=True)
    if chief:
        write_config(config, output)

    with strategy.scope():
        jit = config.jit_compile and config.strategy == "default"  # XLA is not used with tf.distribute
        schedule = make_schedule(config)
        net, trainer = compiled_trainer(config, schedule, jit)
    init_report = None
    if resume:
        restore_checkpoint(shared_output, trainer)
    elif config.init_from:
        init_report = copy_matching_layers(config.init_from, net)
    bicubic = evaluate(val_source, lambda lr: bicubic_upscale(lr, config.scale), progress=False)
    if chief:
        log(start_summary(config, net, count_params(net), sources[0], val_source, start, resume, init_report,
                          strategy, bicubic))

    planned = config.steps or UNFITTED
    epoch = _epoch_length(config, start)
    run = _Callbacks(config, output, chief, trainer, net, planned, epoch, schedule, started, val_source, val_data,
                     bicubic)
    result = TrainResult(output, start, start, 0.0, bicubic_psnr=bicubic.psnr, bicubic_ssim=bicubic.ssim)
    if start < planned:
        t0 = time.perf_counter()
        try:
            trainer.fit(train_data, steps_per_epoch=epoch, epochs=-(-planned // epoch),
                        initial_epoch=start // epoch, callbacks=run.callbacks + list(extra_callbacks),
                        shuffle=False, verbose=0)
        except tf.errors.UnavailableError as e:  # a multi-worker peer died: its collectives were aborted
            if workers == 1:
                raise
            raise TrainingError(lost_peer_message(e, strategy, cb.Checkpoint.saved_step(shared_output))) from None
        result.steps_per_second = (cb.global_step(trainer) - start) / (time.perf_counter() - t0)
    result.final_step = cb.global_step(trainer)
    result.planned_steps = config.steps
    result.budget_expired = run.budget is not None and run.budget.expired
    if run.validation is not None:
        result.best, result.history = run.validation.best, run.validation.history
    if run.guard.diverged_at is not None:
        result.diverged_at = run.guard.diverged_at
        last = cb.Checkpoint.saved_step(shared_output)
        raise TrainingError(f"loss became NaN/inf at step {run.guard.diverged_at}; stopped. Last good checkpoint: "
                            + (f"{run.checkpoint.weights_path} (step {last})" if last is not None else "none"))
    with cb.averaged_weights(trainer):
        cb.save_atomic(net, output / "last.keras")
    if chief:
        log(end_summary(result, output))
    return result


class _Callbacks:
    """A run's callbacks, in the order they must act: divergence, the last step, progress and logs (chief),
    the time budget (before validation and checkpoint, which act on its stop), validation, checkpoint."""

    def __init__(self, config, output, chief, trainer, net, planned, epoch, schedule, started, val_source,
                 val_data, bicubic):
        self.guard = cb.DivergenceGuard()
        self.checkpoint = cb.Checkpoint(output, config.checkpoint_every, planned, trainer)
        self.callbacks = [self.guard, cb.StopAtStep(trainer, planned)]
        self.validation = self.budget = step_bar = None
        if chief:
            writers = {name: tf.summary.create_file_writer(str(output / "logs" / name))
                       for name in ("train", "validation")}
            arch = get_arch(config.arch)
            evaluator = make_evaluator(select_scale(net, config.scale) if arch.multiscale else net, config)
            self.validation = cb.Validation(output, config.eval_every, planned, trainer, net, evaluator, val_data,
                                            preview_crops(val_source, config.scale), writers,
                                            validation_identity(config, val_source), perceptual=config.perceptual,
                                            psnr_floor=bicubic.psnr)
            step_bar = cb.StepProgress(config.steps, trainer)
            self.callbacks += [step_bar, cb.ScalarLogger(writers["train"], trainer, min(50, config.eval_every))]
        if config.time_budget is not None:
            def fitted(total, steps_per_second):
                config.steps = total
                if chief:
                    write_config(config, output)
                    step_bar.set_total(total)
                    progress.write(f"cosine schedule fitted to the time budget: {total:,} steps "
                                   f"({steps_per_second:.2f} steps/s measured)")

            self.budget = cb.TimeBudget(started + parse_duration(config.time_budget), trainer, epoch,
                                        self.validation, fit=schedule if config.fits_budget else None,
                                        on_fit=fitted, checkpoint=self.checkpoint if chief else None)
            self.callbacks.append(self.budget)
        if chief:
            self.callbacks += [self.validation, self.checkpoint]
