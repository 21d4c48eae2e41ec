"""Training a model under ``model.fit`` with the papers' recipes.

`TrainConfig` holds every option (the CLI flags and ``--config`` keys);
`train` builds the data, the model and the callbacks, runs ``fit`` and
returns a `TrainResult`. A run lives in one output folder:

    config.json              the resolved options (``--resume`` reads them)
    checkpoint.weights.h5    model + optimizer state (moments, moving average), every N steps (atomic)
    checkpoint.json          the step, size and SHA-256 of that checkpoint
    best.keras / best.json   best validation so far (PSNR; GAN or teacher runs: NIQE, PSNR above bicubic)
    last.keras               the model at the end
    metrics.csv              one row per validation
    logs/                    TensorBoard: losses, LR, PSNR/SSIM, image strips
"""
import contextlib
import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tfsr import progress
from tfsr.data import resolve
from tfsr.data.degradations import DegradationError, degradation
from tfsr.data.images import atomic_output
from tfsr.data.pipeline import (
    multiscale_training_dataset,
    training_dataset,
    validation_dataset,
)
from tfsr.data.sources import PairedSet, bicubic_upscale, check_pairs, scale_augmented, split_held_out
from tfsr.evaluation import evaluate
from tfsr.layers import walk_layers
from tfsr.metrics import PSNR, SSIM
from tfsr.models import build, get_arch, load_model, model_scales, select_scale
from tfsr.models.complexity import count_params
from tfsr.models.discriminators import DISCRIMINATORS, build_discriminator
from tfsr.training import callbacks as cb
from tfsr.training.adversarial import GANTrainer
from tfsr.training.distillation import DistillationTrainer, TeacherError, check_teacher_weights, load_teachers
from tfsr.training.losses import PIXEL_TERMS, LossSpecError, content_losses, hed_weights_file, parse_loss
from tfsr.training.optimization import AveragingAdam, LearningRate, format_duration, loss_scaled, parse_duration
from tfsr.training.trainers import MultiScaleTrainer, Trainer

MIXED_PRECISION = (None, False, True, "auto", "float16", "bfloat16")  # False/True: older run configs
MODEL_OPTIONS = ("blocks", "features", "expansion", "low_rank", "res_scale", "init", "conv_init")


@dataclass
class TrainConfig:
    """Every training option. ``None`` means the architecture's paper default."""

    arch: str = "wdsr_b"
    scale: int = 4
    dataset: str = "div2k"
    data_dir: str = None
    degradation: str = "bicubic"
    degradation_options: dict = None
    sharpen_target: bool = False
    eval_degradation: str = None
    steps: int = None
    batch_size: int = None
    patch_size: int = None
    lr: float = None
    schedule: str = "step"
    halve_every: int = None
    warmup_steps: int = 0
    ema: float = None
    time_budget: str = None
    loss: str = None  # "l1", or weighted terms "l1:1,fft:1,gan:0.1" (tfsr.training.losses)
    discriminator: str = "unet"  # with a gan term: unet (Real-ESRGAN's) or patch
    d_features: int = 64
    d_lr: float = None  # the discriminator's learning rate (default: lr)
    teacher: list = None  # train on these models' blended images instead of the HR (tfsr.training.distillation)
    teacher_weights: list = None  # their shares in the blend (default: equal)
    hold_out: int = None  # validate on this many training images kept out of training
    seed: int = 0
    output: str = None
    eval_every: int = 1000
    eval_dataset: str = None
    eval_images: int = None
    eval_crop: int = None
    checkpoint_every: int = 1000
    init_from: str = None
    mixed_precision: str = None  # float16, bfloat16, or auto (float16 on GPUs, bfloat16 on CPUs); None: float32
    strategy: str = "default"
    cache: str = "memory"
    patches_per_image: int = 1
    scale_augment: list = None
    changes: list = None  # recipe changes made on --resume: [{"step": 17000, "scale_augment": [...]}]
    skip_bad_images: bool = False
    jit_compile: bool = None
    blocks: int = None
    features: int = None
    expansion: int = None
    low_rank: float = None
    res_scale: float = None
    init: str = None
    conv_init: str = None

    def resolved(self):
        """A copy with the recipe's defaults filled in.

        A cosine schedule with a time budget and no ``steps`` keeps
        ``steps`` None: the run fits it to the budget once it has measured
        its speed.
        """
        recipe = get_arch(self.arch).recipe
        values = dataclasses.asdict(self)
        keys = ["batch_size", "patch_size", "lr", "halve_every", "loss", "jit_compile"]
        if not self.fits_budget:
            keys.append("steps")
        for key in keys:
            if values[key] is None:
                values[key] = getattr(recipe, key)
        values["output"] = values["output"] or f"runs/{self.arch}_x{self.scale}"
        if self.teacher and self.teacher_weights is None:
            values["teacher_weights"] = check_teacher_weights(self.teacher, None)
        return TrainConfig(**values)

    @property
    def fits_budget(self):
        """Whether the cosine's length is to be fitted to the time budget."""
        return self.schedule == "cosine" and self.time_budget is not None and self.steps is None

    def validate(self):
        """`ConfigError` for options that cannot work."""
        if self.schedule not in ("step", "cosine"):
            raise ConfigError(f"unknown schedule {self.schedule!r} (step, cosine)")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ConfigError(f"--ema is a decay between 0 and 1 (e.g. 0.999), got {self.ema}")
        if self.time_budget is not None:
            try:
                parse_duration(self.time_budget)
            except ValueError as e:
                raise ConfigError(f"--time-budget: {e}") from None
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"--mixed-precision is one of {', '.join(MIXED_PRECISION[3:])}, "
                              f"got {self.mixed_precision!r}")
        if self.warmup_steps < 0:
            raise ConfigError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        arch = get_arch(self.arch)
        if arch.multiscale and self.scale not in arch.scales:
            raise ConfigError(f"{self.arch} has branches for x{', x'.join(map(str, arch.scales))}; "
                              f"--scale {self.scale} (the scale it validates at) is none of them")
        try:
            terms = parse_loss(self.loss or "l1")
            if "hed" in terms:
                hed_weights_file()  # the optional extra is installed
        except LossSpecError as e:
            raise ConfigError(str(e)) from None
        if "gan" in terms and arch.multiscale:
            raise ConfigError(f"--loss {self.loss}: adversarial training is for single-scale models, not {self.arch}")
        if self.teacher or self.teacher_weights:
            try:
                check_teacher_weights(self.teacher, self.teacher_weights)
                load_teachers(self.teacher, self.scale)  # before a run folder is made for them
            except TeacherError as e:
                raise ConfigError(str(e)) from None
            if "gan" in terms or arch.multiscale:
                raise ConfigError(f"--teacher trains one scale on a pixel loss; not with "
                                  f"{'--loss ' + self.loss if 'gan' in terms else self.arch}")
        if self.discriminator not in DISCRIMINATORS:
            raise ConfigError(f"unknown discriminator {self.discriminator!r} ({', '.join(DISCRIMINATORS)})")
        if self.hold_out is not None and self.eval_dataset is not None:
            raise ConfigError("--hold-out validates on the held-out training images; it takes no --eval-dataset")
        if self.degradation == "unknown" and self.dataset != "div2k":
            raise ConfigError("--degradation unknown is DIV2K's own LR files; it needs --dataset div2k")
        try:
            self.degradation_chain()
            self.eval_degradation_chain()
        except DegradationError as e:
            raise ConfigError(str(e)) from None

    def lr_files(self):
        """Which LR files the dataset provides: DIV2K's ``unknown`` ones, or bicubic (made if absent)."""
        return "unknown" if self.degradation == "unknown" else "bicubic"

    def degradation_chain(self):
        """The `Degradation` applied to training patches (None: the dataset's LR as it is)."""
        if self.degradation in ("bicubic", "unknown"):
            return None
        return degradation(self.degradation, self.degradation_options)

    def eval_degradation_chain(self):
        """The `Degradation` of the validation LR images: ``eval_degradation``, else the training chain."""
        if self.eval_degradation is None:
            return self.degradation_chain()
        return None if self.eval_degradation == "bicubic" else degradation(self.eval_degradation)

    @property
    def adversarial(self):
        """Whether the loss has a GAN term (a discriminator trains beside the network)."""
        return "gan" in parse_loss(self.loss)

    @property
    def perceptual(self):
        """Whether the run learns texture (a GAN term, or teachers' images): validation then scores NIQE and
        keeps the most natural model above bicubic, not the highest PSNR."""
        return self.adversarial or bool(self.teacher)

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
    planned_steps: int = None
    budget_expired: bool = False


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


_UNFITTED = 10**9  # steps of a run whose length a time budget fits later


def make_schedule(config):
    """The config's `LearningRate`: step or cosine, with warm-up."""
    return LearningRate(config.lr, config.schedule, config.halve_every, config.steps or _UNFITTED,
                        config.warmup_steps)


def make_optimizer(config, schedule=None):
    """Adam (β1 0.9, β2 0.999, ε 1e-8) on ``schedule`` (default: `make_schedule`).

    ``config.ema`` keeps a moving average of the weights in the optimizer
    (`AveragingAdam`; saved with its state in the checkpoint).
    """
    schedule = schedule or make_schedule(config)
    adam = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    if config.ema:
        return loss_scaled(AveragingAdam(schedule, ema_momentum=config.ema, **adam))
    return loss_scaled(keras.optimizers.Adam(schedule, **adam))


def make_loss(spec, scale=None):
    """The Keras loss of a non-adversarial ``--loss``: ``l1``/``l2`` on [0, 255], or weighted terms on [0, 1]
    (``scale``: the model's, for the ``grid`` term)."""
    losses = {"l1": keras.losses.MeanAbsoluteError, "l2": keras.losses.MeanSquaredError}
    if spec in losses:
        return losses[spec]()
    terms = parse_loss(spec)
    if "gan" in terms:
        raise ValueError(f"--loss {spec} is adversarial: it trains with a GANTrainer, not a Keras loss")
    parts = content_losses(terms, scale)

    def weighted(hr, sr):
        hr, sr = tf.cast(hr, tf.float32) / 255.0, tf.cast(sr, tf.float32) / 255.0
        return tf.add_n([terms[name] * fn(hr, sr) for name, fn in parts.items()])
    return weighted


def _pixel_loss(spec):
    """The pixel term of ``--loss`` (l1 if it has none): the validation loss."""
    return next((t for t in parse_loss(spec) if t in PIXEL_TERMS), "l1")


def _validation_source(config, scale):
    if config.hold_out:
        held = _held_out(resolve(config.dataset, scale, split="train", data_dir=config.data_dir,
                                 degradation=config.lr_files()), config)[1]
        return held.degraded(config.eval_degradation_chain(), seed=config.seed)
    spec = config.eval_dataset or ("sample" if config.dataset == "sample" else
                                   "div2k" if config.dataset == "div2k" else None)
    if spec is None:
        raise ConfigError(f"--eval-dataset is needed with --dataset {config.dataset} "
                         f"(e.g. set5 under --data-dir, or a folder)")
    source = resolve(spec, scale, split="valid", data_dir=config.data_dir, degradation=config.lr_files())
    limit = config.eval_images or (10 if spec == "div2k" else None)  # EDSR validates on 0801-0810
    if not isinstance(source, PairedSet):
        return source
    if limit:
        source = dataclasses.replace(source, pairs=source.pairs[:limit])
    return source.degraded(config.eval_degradation_chain(), seed=config.seed)


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


def _held_out(source, config):
    """(training, held-out) of a training source under ``--hold-out``; a `ConfigError` unless it is a set of files."""
    if not isinstance(source, PairedSet):
        raise ConfigError(f"--hold-out needs a dataset of image files, not {config.dataset}")
    try:
        return split_held_out(source, config.hold_out)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def compiled_trainer(config, schedule=None, jit_compile=False):
    """The network of ``config`` and its compiled trainer, optimizers built (ready for a checkpoint).

    A ``gan`` term in the loss gives a `GANTrainer` with the config's discriminator and its own Adam;
    ``teacher`` a `DistillationTrainer` against those models' blended images.
    """
    arch = get_arch(config.arch)
    net = build(config.arch, None if arch.multiscale else config.scale, **config.model_overrides())
    if config.adversarial:
        discriminator = build_discriminator(config.discriminator, config.d_features)
        d_optimizer = loss_scaled(keras.optimizers.Adam(config.d_lr or config.lr, beta_1=0.9, beta_2=0.99,
                                                        epsilon=1e-8))
        trainer = GANTrainer(net, discriminator, parse_loss(config.loss), d_optimizer, config.scale)
        trainer.compile(make_optimizer(config, schedule), jit_compile=jit_compile)
        return net, trainer
    if config.teacher:
        try:
            teachers = load_teachers(config.teacher, config.scale)
        except TeacherError as e:
            raise ConfigError(str(e)) from None
        trainer = DistillationTrainer(net, teachers, check_teacher_weights(config.teacher, config.teacher_weights))
    else:
        trainer = MultiScaleTrainer(net) if arch.multiscale else Trainer(net)
    trainer.compile(make_optimizer(config, schedule), make_loss(config.loss, config.scale), jit_compile=jit_compile)
    trainer.optimizer.build(trainer.trainable_variables)
    return net, trainer


def restore_checkpoint(output, trainer):
    """`Checkpoint.restore`, a damaged or missing checkpoint as a one-line `ConfigError`."""
    try:
        cb.Checkpoint.restore(output, trainer)
    except cb.CheckpointError as e:
        raise ConfigError(str(e)) from None


def checkpoint_model(output):
    """The network of a run folder at its checkpoint, with its latest (raw) weights."""
    net, trainer = compiled_trainer(load_run_config(output).resolved())
    restore_checkpoint(output, trainer)
    return net


def _shapes(shapes):
    return ", ".join("×".join(map(str, shape)) for shape in shapes)


class InitReport(NamedTuple):
    """What ``--init-from`` did: layers copied as they were, grown to a wider net, skipped (with why)."""
    copied: list
    grown: list
    skipped: dict


def copy_matching_layers(source_path, net):
    """``--init-from``: copy every layer whose name and weight shapes match.

    The source is a model file, a preset, or a run folder (its checkpoint's
    raw weights: a run still in progress can seed another).
    A source of the same scale(s) that is narrower than ``net`` (fewer
    channels, same kernel sizes) is grown into it: its weights fill the
    leading channels and the new inputs of its old outputs are zeroed, so the
    wider net starts out computing exactly what the source did (checked on a
    probe image) while its new channels can learn.
    """
    is_run = Path(source_path).is_dir() and (Path(source_path) / "checkpoint.json").is_file()
    source = checkpoint_model(source_path) if is_run else load_model(source_path)
    growable = model_scales(source) == model_scales(net)
    by_name = {layer.name: layer for layer in walk_layers(source)}
    report = InitReport([], [], {})
    for layer in walk_layers(net):
        if not layer.weights:
            continue
        other = by_name.get(layer.name)
        if other is None:
            report.skipped[layer.name] = "not in the source model"
            continue
        mine, theirs = layer.get_weights(), other.get_weights()
        if [w.shape for w in mine] == [w.shape for w in theirs]:
            layer.set_weights(theirs)
            report.copied.append(layer.name)
        elif growable and all(_fits_inside(t.shape, m.shape) for t, m in zip(theirs, mine)):
            layer.set_weights([_embedded(t, m) for t, m in zip(theirs, mine)])
            report.grown.append(layer.name)
        else:
            report.skipped[layer.name] = (f"shapes differ ({_shapes(w.shape for w in theirs)} in the source, "
                                          f"{_shapes(w.shape for w in mine)} here)")
    if not report.copied and not report.grown:
        raise ConfigError(f"--init-from {source_path}: no layer of it matches this {net.name} by name and shape, "
                          f"so nothing would be copied (is it another architecture?)")
    if report.grown and not report.skipped:
        _check_same_function(source, net, source_path)
    return report


def _fits_inside(small, big):
    """A weight of shape ``small`` can be embedded in ``big``: same rank and kernel size, no fewer channels."""
    return (len(small) == len(big) and tuple(small[:-2]) == tuple(big[:-2])
            and all(s <= b for s, b in zip(small[-2:], big[-2:])))


def _embedded(theirs, mine):
    """``theirs`` in the leading channels of ``mine``; for a kernel (…, c_in, c_out) the old
    outputs read nothing from the new inputs, so the old channels compute what they did."""
    out = mine.copy()
    out[tuple(slice(0, n) for n in theirs.shape)] = theirs
    if theirs.ndim >= 2:
        out[..., theirs.shape[-2]:, :theirs.shape[-1]] = 0
    return out


def _check_same_function(source, net, source_path):
    probe = np.random.default_rng(0).uniform(0, 255, (1, 12, 12, 3)).astype(np.float32)
    before = np.concatenate([np.ravel(y) for y in keras.tree.flatten(source(probe))])
    after = np.concatenate([np.ravel(y) for y in keras.tree.flatten(net(probe))])
    gap = float(np.max(np.abs(before - after)))
    if gap > 0.01:
        raise ConfigError(f"--init-from {source_path}: grown into {net.name}, its output differs from the "
                          f"source's by {gap:.3g} grey levels (is it another architecture?)")


def _write_config(config, output):
    with atomic_output(Path(output) / "config.json") as tmp:
        tmp.write_text(json.dumps(dataclasses.asdict(config), indent=2))


def load_run_config(output):
    """The config.json of an earlier run, for ``--resume``."""
    path = Path(output) / "config.json"
    if not path.exists():
        raise ConfigError(f"{path}: nothing to resume (no config.json in {output})")
    return TrainConfig.from_dict(json.loads(path.read_text()), str(path))


# What --resume may change: the length and budget of the run, what depends on the machine (where the
# data is, caching, distribution, XLA) and the validation (a new one chooses the best model anew, the old
# best kept as best.previous). The rest is the run's identity, except the recipe
# changes a run may take on late (scale augmentation, docs/training.md section 6): those are allowed
# and recorded in the run's config as {"step": ..., option: value}.
RECORDED_CHANGES = {"scale_augment"}
RESUMABLE = {"steps", "time_budget", "eval_every", "checkpoint_every", "dataset", "eval_dataset", "eval_images",
             "eval_crop", "eval_degradation", "cache", "data_dir", "strategy", "jit_compile"} | RECORDED_CHANGES


def resumed_config(output, overrides=None, source="options"):
    """The config that continues the run in ``output``, with the ``overrides`` ``--resume`` allows.

    The run continues in the folder named now, even if it was copied or moved there; a time budget is this
    invocation's, not inherited; a late recipe change (`RECORDED_CHANGES`) is recorded with its step.
    An unknown option, or a change to what makes the run what it is, is a `ConfigError`.
    """
    stored = load_run_config(output)
    overrides = {k.replace("-", "_"): v for k, v in (overrides or {}).items()}
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"{source}: unknown option(s) {', '.join(sorted(unknown))}")
    changed = {k for k, v in overrides.items() if k not in RESUMABLE | {"output"} and getattr(stored, k) != v}
    if changed:
        raise ConfigError(f"--resume continues the run in {output} as it was configured; "
                          f"cannot change {', '.join(sorted(changed))}")
    updates = {"time_budget": None, **{k: v for k, v in overrides.items() if k in RESUMABLE}, "output": str(output)}
    recorded = {k: updates[k] for k in RECORDED_CHANGES & set(updates) if getattr(stored, k) != updates[k]}
    if recorded:
        updates["changes"] = [*(stored.changes or []), {"step": cb.Checkpoint.saved_step(output), **recorded}]
    return TrainConfig.from_dict({**vars(stored), **updates})


def _check_resumable(config, output):
    """`ConfigError` unless ``config`` (resolved) is the run's own, up to what --resume may change."""
    stored = load_run_config(output).resolved()
    free = RESUMABLE | {"output", "changes", "time_budget"}
    changed = sorted(f.name for f in dataclasses.fields(TrainConfig)
                     if f.name not in free and getattr(config, f.name) != getattr(stored, f.name))
    if changed:
        raise ConfigError(f"--resume continues the run in {output} as it was configured; cannot change "
                          f"{', '.join(changed)} (tfsr.training.resumed_config makes the config that continues it)")


def _epoch_length(config, start):
    """Steps per Keras epoch: validation, checkpoints and time checks fall on epoch ends. The run's length
    need not be a multiple (`cb.StopAtStep` ends it mid-epoch), so 1,001 steps still run in long epochs."""
    budget_grain = 10 if config.time_budget is not None else 0  # a time budget is checked every 10 steps
    return math.gcd(config.eval_every, config.checkpoint_every, start, budget_grain)


def training_data(config, seed, shard=(1, 0)):
    """(training sources, endless batches) for a resolved config.

    MDSR trains on all its scales (one scale per batch); the others at
    ``config.scale``. Under multi-worker training ``shard`` = (workers, this
    worker): all workers share one seeded stream and each makes only its share
    of every global batch, so n workers train on the batches one process
    would (tf.data's auto-sharding is off: it would make every patch on every
    worker).
    """
    arch = get_arch(config.arch)
    scales = arch.scales if arch.multiscale else (config.scale,)
    kwargs = dict(batch_size=config.batch_size, patch_size=config.patch_size, cache=config.cache,
                  patches_per_image=config.patches_per_image, skip_bad=config.skip_bad_images,
                  degradation=config.degradation_chain(), sharpen_target=config.sharpen_target, shard=shard)
    sources = [resolve(config.dataset, s, split="train", data_dir=config.data_dir,
                       degradation=config.lr_files()) for s in scales]
    if config.hold_out:
        sources = [_held_out(s, config)[0] for s in sources]
    if config.scale_augment:
        sources = [scale_augmented(s, config.scale_augment) if isinstance(s, PairedSet) else s for s in sources]
    # Checked here, once, so that the sources (and the run's summary) hold only the usable images.
    sources = [check_pairs(s, config.patch_size, config.skip_bad_images) if isinstance(s, PairedSet) else s
               for s in sources]
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
    evaluator.compile(loss=make_loss(_pixel_loss(config.loss)), metrics=[PSNR(config.scale), SSIM(config.scale)])
    return evaluator


def worker_index(strategy):
    """This process's index among the workers (0 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(resolver.task_id or 0) if resolver is not None and resolver.task_type else 0


def worker_count(strategy):
    """How many worker processes train together (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    return sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values())


def lost_peer_message(error, strategy, output):
    """One line for a multi-worker run whose peer died: who, and how to go on."""
    tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", str(error).split("unhealthy")[-1])
    me = (strategy.cluster_resolver.task_type, str(worker_index(strategy)))
    peers = [t for t in dict.fromkeys(tasks) if t != me]
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    named = ", ".join(f"{job} {i} ({cluster[job][int(i)]})" for job, i in peers) or "a peer"
    step = cb.Checkpoint.saved_step(output)
    resume = (f"step {step}" if step is not None else "the chief's last checkpoint, if it wrote one")
    resume = f"relaunch every worker with --resume to go on from {resume}"
    return f"lost {named}: it stopped answering, so this worker stopped too; {resume}"


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
    with _dtype_policy(config.mixed_precision):
        return _train(config, resume, log, extra_callbacks, started)


def compute_dtype(mixed):
    """The compute dtype of ``--mixed-precision``: float16 or bfloat16 as named; auto: float16 on GPUs, bfloat16
    on CPUs (which have no fast float16); None: float32."""
    if mixed in (None, False):
        return "float32"
    if mixed in (True, "auto"):
        return "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"
    return mixed


@contextlib.contextmanager
def _dtype_policy(mixed):
    """The run's mixed-precision policy (`compute_dtype`), then back.

    Under float16 Keras wraps the optimizer in a ``LossScaleOptimizer``
    (dynamic loss scaling, saved with the optimizer); every trainer scales
    its loss before the gradient and lets ``apply`` unscale it.
    """
    previous = keras.mixed_precision.global_policy()
    dtype = compute_dtype(mixed)
    if dtype != "float32":
        keras.mixed_precision.set_global_policy(f"mixed_{dtype}")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train(config, resume, log, extra_callbacks, started):
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
    if resume:
        _check_resumable(config, shared_output)
    if chief and not resume and (shared_output / "checkpoint.json").exists():
        raise ConfigError(f"{shared_output}: already holds a run; use --resume to continue it or choose "
                          f"another --output")
    start = start or 0

    # A resumed run draws fresh patches. The data comes first: a missing folder or a bad image stops the
    # run before its folder is made.
    workers = worker_count(strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(f"--batch-size {config.batch_size} is the global batch: it must divide evenly over "
                          f"the {strategy.num_replicas_in_sync} replicas")
    sources, train_data = training_data(config, seed=config.seed + start, shard=(workers, worker))
    val_source, val_data = validation_data(config)
    output.mkdir(parents=True, exist_ok=True)
    if chief:
        _write_config(config, output)

    with strategy.scope():
        jit = config.jit_compile and config.strategy == "default"  # XLA is not used with tf.distribute
        schedule = make_schedule(config)
        net, trainer = compiled_trainer(config, schedule, jit)
    evaluator = make_evaluator(select_scale(net, config.scale) if arch.multiscale else net, config)

    planned = config.steps or _UNFITTED
    checkpoint = cb.Checkpoint(output, config.checkpoint_every, planned, trainer)
    init_report = None
    if resume:
        restore_checkpoint(shared_output, trainer)
    elif config.init_from:
        init_report = copy_matching_layers(config.init_from, net)

    params = count_params(net)
    bicubic = evaluate(val_source, lambda lr: bicubic_upscale(lr, config.scale), progress=False)
    if chief:
        log(_start_summary(config, net, params, sources[0], val_source, start, resume, init_report,
                           strategy, bicubic))

    epoch = _epoch_length(config, start)
    guard = cb.DivergenceGuard()
    callbacks = [guard, cb.StopAtStep(trainer, planned)]
    validation = step_bar = None
    if chief:
        writers = {name: tf.summary.create_file_writer(str(output / "logs" / name))
                   for name in ("train", "validation")}
        validation = cb.Validation(output, config.eval_every, planned, trainer, net, evaluator, val_data,
                                   _preview_crops(val_source, config.scale), writers,
                                   _validation_identity(config, val_source), perceptual=config.perceptual,
                                   psnr_floor=bicubic.psnr)
        step_bar = cb.StepProgress(config.steps, trainer)
        callbacks += [step_bar, cb.ScalarLogger(writers["train"], trainer, min(50, config.eval_every))]
    budget = None
    if config.time_budget is not None:
        def fitted(total, steps_per_second):
            config.steps = total
            if chief:
                _write_config(config, output)
                step_bar.set_total(total)
                progress.write(f"cosine schedule fitted to the time budget: {total:,} steps "
                           f"({steps_per_second:.2f} steps/s measured)")

        budget = cb.TimeBudget(started + parse_duration(config.time_budget), trainer, epoch, validation,
                               fit=schedule if config.fits_budget else None,
                               on_fit=fitted, checkpoint=checkpoint if chief else None)
        callbacks.append(budget)  # before validation and checkpoint: they act on its stop
    if chief:
        callbacks += [validation, checkpoint]
    callbacks += list(extra_callbacks)

    result = TrainResult(output, start, start, 0.0, bicubic_psnr=bicubic.psnr, bicubic_ssim=bicubic.ssim)
    if start < planned:
        t0 = time.perf_counter()
        try:
            trainer.fit(train_data, steps_per_epoch=epoch, epochs=-(-planned // epoch),
                        initial_epoch=start // epoch, callbacks=callbacks, shuffle=False, verbose=0)
        except tf.errors.UnavailableError as e:  # a multi-worker peer died: its collectives were aborted
            if workers == 1:
                raise
            raise TrainingError(lost_peer_message(e, strategy, shared_output)) from None
        result.steps_per_second = (cb.global_step(trainer) - start) / (time.perf_counter() - t0)
    result.final_step = cb.global_step(trainer)
    result.planned_steps = config.steps
    result.budget_expired = budget is not None and budget.expired
    if validation is not None:
        result.best, result.history = validation.best, validation.history
    if guard.diverged_at is not None:
        result.diverged_at = guard.diverged_at
        last = cb.Checkpoint.saved_step(shared_output)
        raise TrainingError(f"loss became NaN/inf at step {guard.diverged_at}; stopped. Last good checkpoint: "
                            + (f"{checkpoint.weights_path} (step {last})" if last is not None else "none"))
    with cb.averaged_weights(trainer):
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
        *_degradation_lines(config, val_source),
        f"  schedule   {_describe_schedule(config)}, loss {config.loss.upper()}",
        *_adversary_lines(config),
        *_teacher_lines(config),
        f"  run        {config.output}  ({'resumed at step ' + str(start) if resume else 'new'}; "
        f"strategy {config.strategy}, {strategy.num_replicas_in_sync} replica(s))",
    ]
    if init_report:
        kept = "" if init_report.skipped else " (output unchanged)"
        grown = f", grew {len(init_report.grown)}{kept}" if init_report.grown else ""
        lines.append(f"  init-from  {config.init_from}: copied {len(init_report.copied)} layers{grown}, "
                     f"skipped {len(init_report.skipped)}")
        lines += [f"             skipped {name}: {why}" for name, why in init_report.skipped.items()]
    for change in config.changes or []:
        since = ", ".join(f"{k}={v}" for k, v in change.items() if k != "step")
        lines.append(f"  changed    from step {change['step']}: {since}")
    lines.append("=" * 72)
    return "\n".join(lines)


def _adversary_lines(config):
    if not config.adversarial:
        return []
    return [f"  adversary  {config.discriminator} discriminator, {config.d_features} features, Adam lr "
            f"{config.d_lr or config.lr:g}; best model: lowest validation NIQE with PSNR above bicubic"]


def _teacher_lines(config):
    if not config.teacher:
        return []
    blend = " + ".join(f"{w:g} × {t}" for w, t in zip(config.teacher_weights, config.teacher))
    return [f"  teacher    targets are {blend} of the LR, not the HR; best model: lowest validation NIQE with PSNR "
            f"above bicubic"]


def _validation_identity(config, source):
    """What validation scores are comparable within: the set, its images and crop, and its LR."""
    if not isinstance(source, PairedSet):
        return f"{source.name} (crop {config.eval_crop})"
    return f"{source.name}, {len(source)} images, crop {config.eval_crop}, {source.describe_input()}"


def _degradation_lines(config, val_source):
    chain = config.degradation_chain()
    validation = val_source.describe_input() if isinstance(val_source, PairedSet) else "as loaded"
    if chain is None and validation.startswith("LR as loaded") and not config.sharpen_target:
        return []
    sharpened = ", targets sharpened (unsharp mask)" if config.sharpen_target else ""
    return [f"  degrade    training: {chain.describe() if chain else 'LR as loaded'}{sharpened}; "
            f"validation: {validation}"]


def _describe_schedule(config):
    steps = (f"steps fitted to the {config.time_budget} budget" if config.steps is None
             else f"{config.steps:,} steps")
    if config.schedule == "cosine":
        text = f"{steps}, Adam lr {config.lr:g} cosine-decayed to 0"
    else:
        text = f"{steps}, Adam lr {config.lr:g} halved every {config.halve_every:,}"
    if config.warmup_steps:
        text += f" after {config.warmup_steps:,} warm-up steps"
    if config.ema:
        text += f"; weights averaged (EMA {config.ema:g})"
    if config.time_budget is not None and config.steps is not None:
        text += f"; stops before {format_duration(parse_duration(config.time_budget))}"
    return text


def _end_summary(result, output):
    lines = ["=" * 72, f"done: step {result.final_step}  ({result.steps_per_second:.2f} steps/s)"]
    if result.budget_expired:
        of = f" of {result.planned_steps:,}" if result.planned_steps else ""
        lines.append(f"  stopped by the time budget at step {result.final_step:,}{of}; "
                     f"continue with: python -m tfsr.train --output {output} --resume")
    if result.best:
        lines.append(f"  best validation {result.best['val_psnr']:.2f} dB / {result.best['val_ssim']:.4f} "
                     f"at step {result.best['step']}   bicubic {result.bicubic_psnr:.2f} dB / "
                     f"{result.bicubic_ssim:.4f}   ({result.best['val_psnr'] - result.bicubic_psnr:+.2f} dB)")
    lines += [f"  best model {output / 'best.keras'}", f"  last model {output / 'last.keras'}",
              f"  logs       {output / 'metrics.csv'}, tensorboard --logdir {output / 'logs'}", "=" * 72]
    return "\n".join(lines)
