"""Training a model under ``model.fit`` with the papers' recipes.

`TrainConfig` holds every option (the CLI flags and ``--config`` keys);
`train` builds the data, the model and the callbacks, runs ``fit`` and
returns a `TrainResult`. A run lives in one output folder:

    config.json              the resolved options (``--resume`` reads them)
    checkpoint.weights.h5    model + optimizer state, every N steps (atomic)
    checkpoint.json          the step of that checkpoint
    best.keras / best.json   best validation PSNR so far
    last.keras               the model at the end
    metrics.csv              one row per validation
    logs/                    TensorBoard: losses, LR, PSNR/SSIM, image strips
"""
import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfsr import callbacks as cb
from tfsr.data import resolve
from tfsr.data.images import atomic_output
from tfsr.data.pipeline import (
    multiscale_training_dataset,
    training_dataset,
    validation_dataset,
)
from tfsr.data.sources import PairedSet, bicubic_upscale
from tfsr.evaluation import evaluate
from tfsr.layers import walk_layers
from tfsr.metrics import PSNR, SSIM
from tfsr.models import build, get_arch, select_scale
from tfsr.models.complexity import count_params
from tfsr.trainers import MultiScaleTrainer, Trainer

MODEL_OPTIONS = ("blocks", "features", "expansion", "low_rank", "res_scale", "init")


@dataclass
class TrainConfig:
    """Every training option. ``None`` means the architecture's paper default."""

    arch: str = "wdsr_b"
    scale: int = 4
    dataset: str = "div2k"
    data_dir: str = None
    degradation: str = "bicubic"
    steps: int = None
    batch_size: int = None
    patch_size: int = None
    lr: float = None
    halve_every: int = None
    loss: str = None
    seed: int = 0
    output: str = None
    eval_every: int = 1000
    eval_dataset: str = None
    eval_images: int = None
    eval_crop: int = None
    checkpoint_every: int = 1000
    init_from: str = None
    mixed_precision: bool = False
    strategy: str = "default"
    cache: str = "memory"
    patches_per_image: int = 1
    skip_bad_images: bool = False
    jit_compile: bool = None
    blocks: int = None
    features: int = None
    expansion: int = None
    low_rank: float = None
    res_scale: float = None
    init: str = None

    def resolved(self):
        """A copy with the recipe's defaults filled in."""
        recipe = get_arch(self.arch).recipe
        values = dataclasses.asdict(self)
        for key in ("steps", "batch_size", "patch_size", "lr", "halve_every", "loss", "jit_compile"):
            if values[key] is None:
                values[key] = getattr(recipe, key)
        values["output"] = values["output"] or f"runs/{self.arch}_x{self.scale}"
        return TrainConfig(**values)

    def model_overrides(self):
        return {k: getattr(self, k) for k in MODEL_OPTIONS if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, values, source="config"):
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = set(values) - names
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {', '.join(sorted(unknown))}")
        return cls(**values)


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


class TrainingError(RuntimeError):
    """Training could not go on (e.g. the loss diverged)."""


class ConfigError(ValueError):
    """Options that do not fit together, or a run folder that does not fit them."""


def strategy_for(name):
    """The tf.distribute strategy named by ``--strategy``."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r} (default, mirrored, multi_worker)")


def make_optimizer(config):
    """Adam (β1 0.9, β2 0.999, ε 1e-8) with the LR halved every ``halve_every`` steps."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        config.lr, decay_steps=config.halve_every, decay_rate=0.5, staircase=True)
    return keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def make_loss(name):
    losses = {"l1": keras.losses.MeanAbsoluteError, "l2": keras.losses.MeanSquaredError}
    if name not in losses:
        raise ValueError(f"unknown loss {name!r} (l1, l2)")
    return losses[name]()


def _validation_source(config, scale):
    spec = config.eval_dataset or ("sample" if config.dataset == "sample" else
                                   "div2k" if config.dataset == "div2k" else None)
    if spec is None:
        raise ConfigError(f"--eval-dataset is needed with --dataset {config.dataset} "
                         f"(e.g. set5 under --data-dir, or a folder)")
    source = resolve(spec, scale, split="valid", data_dir=config.data_dir, degradation=config.degradation)
    limit = config.eval_images or (10 if spec == "div2k" else None)  # EDSR validates on 0801-0810
    if limit and isinstance(source, PairedSet):
        source = PairedSet(source.name, source.scale, source.pairs[:limit])
    return source


def _preview_crops(source, scale, count=3, size=32):
    """(bicubic, LR, HR) centre crops of the first validation images, for TensorBoard."""
    crops = []
    for i in range(min(count, len(source))):
        lr, hr = source.load(i)
        h, w = lr.shape[:2]
        s = min(size, h, w)
        y, x = (h - s) // 2, (w - s) // 2
        lr = lr[y:y + s, x:x + s]
        hr = hr[y * scale:(y + s) * scale, x * scale:(x + s) * scale]
        crops.append((bicubic_upscale(lr, scale).astype(np.float32), lr.astype(np.float32),
                      hr.astype(np.float32)))
    return crops


def copy_matching_layers(source_path, net):
    """``--init-from``: copy every layer whose name and weight shapes match.

    Returns (copied names, {skipped name: reason}).
    """
    source = keras.saving.load_model(source_path, compile=False)
    by_name = {layer.name: layer for layer in walk_layers(source)}
    copied, skipped = [], {}
    for layer in walk_layers(net):
        if not layer.weights:
            continue
        other = by_name.get(layer.name)
        if other is None:
            skipped[layer.name] = "not in the source model"
            continue
        mine, theirs = [w.shape for w in layer.weights], [w.shape for w in other.weights]
        if mine != theirs:
            skipped[layer.name] = f"shapes differ ({theirs} in the source, {mine} here)"
            continue
        layer.set_weights(other.get_weights())
        copied.append(layer.name)
    return copied, skipped


def _write_config(config, output):
    with atomic_output(Path(output) / "config.json") as tmp:
        tmp.write_text(json.dumps(dataclasses.asdict(config), indent=2))


def load_run_config(output):
    """The config.json of an earlier run, for ``--resume``."""
    path = Path(output) / "config.json"
    if not path.exists():
        raise ConfigError(f"{path}: nothing to resume (no config.json in {output})")
    return TrainConfig.from_dict(json.loads(path.read_text()), str(path))


def _epoch_length(config, start):
    """Steps per Keras epoch: validation and checkpoints fall on epoch ends."""
    return math.gcd(config.eval_every, config.checkpoint_every, config.steps, start) or config.steps


def training_data(config, seed):
    """(training sources, endless batches) for a resolved config.

    MDSR trains on all its scales (one scale per batch); the others at
    ``config.scale``. Auto-sharding is off: under multi-worker training each
    worker draws its own random patches (different seeds).
    """
    arch = get_arch(config.arch)
    scales = arch.scales if arch.multiscale else (config.scale,)
    kwargs = dict(batch_size=config.batch_size, patch_size=config.patch_size, cache=config.cache,
                  patches_per_image=config.patches_per_image, skip_bad=config.skip_bad_images)
    sources = [resolve(config.dataset, s, split="train", data_dir=config.data_dir,
                       degradation=config.degradation) for s in scales]
    if arch.multiscale:
        data = multiscale_training_dataset(sources, seed=seed, **kwargs)
    else:
        data = training_dataset(sources[0], seed=seed, **kwargs)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return sources, data.with_options(options)


def validation_data(config):
    """(validation source, dataset of whole images) for a resolved config."""
    source = _validation_source(config, config.scale)
    return source, validation_dataset(source, center_crop=config.eval_crop)


def make_evaluator(model, config):
    """A compiled view of a single-scale ``model`` (shared weights) scoring PSNR/SSIM."""
    evaluator = keras.Model(model.input, model.output, name=f"{model.name}_evaluator")
    evaluator.compile(loss=make_loss(config.loss), metrics=[PSNR(config.scale), SSIM(config.scale)])
    return evaluator


def worker_index(strategy):
    """This process's index among the workers (0 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(resolver.task_id or 0) if resolver is not None and resolver.task_type else 0


def train(config, resume=False, log=print, extra_callbacks=()):
    """Train as ``config`` says; with ``resume``, continue from the checkpoint.

    ``extra_callbacks`` are Keras callbacks added after tfsr's own.

    Under ``multi_worker`` every worker runs this; worker 0 (the chief)
    validates and writes the run folder, worker i writes only its final
    model to ``<output>/worker-i``.
    """
    config = config.resolved()
    with _dtype_policy(config.mixed_precision):
        return _train(config, resume, log, extra_callbacks)


@contextlib.contextmanager
def _dtype_policy(mixed):
    """Mixed precision (float16 on GPUs, bfloat16 on CPUs) for the run, then back."""
    previous = keras.mixed_precision.global_policy()
    if mixed:
        gpu = tf.config.list_physical_devices("GPU")
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train(config, resume, log, extra_callbacks):
    strategy = strategy_for(config.strategy)  # first: multi-worker setup precedes other TF ops
    worker = worker_index(strategy)
    chief = worker == 0
    shared_output = Path(config.output)
    output = shared_output if chief else shared_output / f"worker-{worker}"
    arch = get_arch(config.arch)
    keras.utils.set_random_seed(config.seed)

    start = cb.Checkpoint.saved_step(shared_output) if resume else None
    if resume and start is None:
        raise ConfigError(f"{shared_output}: no checkpoint to resume from")
    if chief and not resume and (shared_output / "checkpoint.json").exists():
        raise ConfigError(f"{shared_output}: already holds a run; use --resume to continue it or choose "
                          f"another --output")
    start = start or 0
    output.mkdir(parents=True, exist_ok=True)
    if chief:
        _write_config(config, output)

    # Each worker draws its own patches; a resumed run draws fresh ones.
    sources, train_data = training_data(config, seed=config.seed + start + 1_000_003 * worker)
    val_source, val_data = validation_data(config)

    with strategy.scope():
        net = build(config.arch, None if arch.multiscale else config.scale, **config.model_overrides())
        trainer = MultiScaleTrainer(net) if arch.multiscale else Trainer(net)
        jit = config.jit_compile and config.strategy == "default"  # XLA is not used with tf.distribute
        trainer.compile(make_optimizer(config), make_loss(config.loss), jit_compile=jit)
        trainer.optimizer.build(trainer.trainable_variables)
    evaluator = make_evaluator(select_scale(net, config.scale) if arch.multiscale else net, config)

    checkpoint = cb.Checkpoint(output, config.checkpoint_every, trainer)
    init_report = None
    if resume:
        trainer.load_weights(shared_output / "checkpoint.weights.h5")
    elif config.init_from:
        init_report = copy_matching_layers(config.init_from, net)

    params = count_params(net)
    bicubic = evaluate(val_source, lambda lr: bicubic_upscale(lr, config.scale), progress=False)
    if chief:
        log(_start_summary(config, net, params, sources[0], val_source, start, resume, init_report,
                           strategy, bicubic))

    guard = cb.DivergenceGuard()
    callbacks = [guard]
    validation = None
    if chief:
        writers = {name: tf.summary.create_file_writer(str(output / "logs" / name))
                   for name in ("train", "validation")}
        validation = cb.Validation(output, config.eval_every, config.steps, trainer, net, evaluator, val_data,
                                   _preview_crops(val_source, config.scale), writers)
        callbacks += [cb.StepProgress(config.steps, trainer), cb.ScalarLogger(writers["train"], trainer),
                      validation, checkpoint]
    callbacks += list(extra_callbacks)

    result = TrainResult(output, start, start, 0.0, bicubic_psnr=bicubic.psnr, bicubic_ssim=bicubic.ssim)
    if start < config.steps:
        epoch = _epoch_length(config, start)
        t0 = time.perf_counter()
        trainer.fit(train_data, steps_per_epoch=epoch, epochs=config.steps // epoch,
                    initial_epoch=start // epoch, callbacks=callbacks, shuffle=False, verbose=0)
        result.steps_per_second = (cb.global_step(trainer) - start) / (time.perf_counter() - t0)
    result.final_step = cb.global_step(trainer)
    if validation is not None:
        result.best, result.history = validation.best, validation.history
    if guard.diverged_at is not None:
        result.diverged_at = guard.diverged_at
        last = cb.Checkpoint.saved_step(shared_output)
        raise TrainingError(f"loss became NaN/inf at step {guard.diverged_at}; stopped. Last good checkpoint: "
                            + (f"{checkpoint.weights_path} (step {last})" if last is not None else "none"))
    cb.save_atomic(net, output / "last.keras")
    if chief:
        log(_end_summary(result, output))
    return result


def _start_summary(config, net, params, train_source, val_source, start, resume, init_report, strategy,
                   bicubic):
    hyper = ", ".join(f"{k}={v}" for k, v in get_arch(config.arch).defaults.items()
                      if k not in config.model_overrides())
    overrides = ", ".join(f"{k}={v}" for k, v in config.model_overrides().items())
    lines = [
        "=" * 72,
        f"tfsr train   {config.arch} x{config.scale}   {params:,} parameters",
        f"  model      {hyper}{', ' if hyper and overrides else ''}{overrides}",
        f"  data       {train_source.name} ({len(train_source)} images), LR patch {config.patch_size}, "
        f"batch {config.batch_size}",
        f"  validation {val_source.name} ({len(val_source)} images) every {config.eval_every} steps; "
        f"bicubic {bicubic.psnr:.2f} dB / {bicubic.ssim:.4f} ({bicubic.convention})",
        f"  schedule   {config.steps:,} steps, Adam lr {config.lr:g} halved every {config.halve_every:,}, "
        f"loss {config.loss.upper()}",
        f"  run        {config.output}  ({'resumed at step ' + str(start) if resume else 'new'}; "
        f"strategy {config.strategy}, {strategy.num_replicas_in_sync} replica(s))",
    ]
    if init_report:
        copied, skipped = init_report
        lines.append(f"  init-from  {config.init_from}: copied {len(copied)} layers, skipped {len(skipped)}")
        lines += [f"             skipped {name}: {why}" for name, why in skipped.items()]
    lines.append("=" * 72)
    return "\n".join(lines)


def _end_summary(result, output):
    lines = ["=" * 72, f"done: step {result.final_step}  ({result.steps_per_second:.2f} steps/s)"]
    if result.best:
        lines.append(f"  best validation {result.best['val_psnr']:.2f} dB / {result.best['val_ssim']:.4f} "
                     f"at step {result.best['step']}   bicubic {result.bicubic_psnr:.2f} dB / "
                     f"{result.bicubic_ssim:.4f}   ({result.best['val_psnr'] - result.bicubic_psnr:+.2f} dB)")
    lines += [f"  best model {output / 'best.keras'}", f"  last model {output / 'last.keras'}",
              f"  logs       {output / 'metrics.csv'}, tensorboard --logdir {output / 'logs'}", "=" * 72]
    return "\n".join(lines)
