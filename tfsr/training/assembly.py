"""What a run is built from: its data, its network and trainer, its optimizer and its scorer.

Each function takes a resolved `TrainConfig`; `tfsr.training.run` puts them together.
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfsr.data import resolve
from tfsr.data.pipeline import multiscale_training_dataset, training_dataset, validation_dataset
from tfsr.data.sources import PairedSet, bicubic_upscale, check_pairs, scale_augmented, split_held_out
from tfsr.metrics import PSNR, SSIM
from tfsr.models import build, get_arch
from tfsr.models.discriminators import build_discriminator
from tfsr.training import callbacks as cb
from tfsr.training.adversarial import GANTrainer
from tfsr.training.config import ConfigError, load_run_config
from tfsr.training.distillation import DistillationTrainer, TeacherError, check_teacher_weights, load_teachers
from tfsr.training.losses import make_loss
from tfsr.training.optimization import LearningRate, adam
from tfsr.training.trainers import MultiScaleTrainer, Trainer

UNFITTED = 10**9  # steps of a run whose length a time budget fits later


def make_schedule(config):
    """The config's `LearningRate`: step or cosine, with warm-up."""
    return LearningRate(config.lr, config.schedule, config.halve_every, config.steps or UNFITTED,
                        config.warmup_steps)


def make_optimizer(config, schedule=None):
    """Adam on ``schedule`` (default: `make_schedule`); ``config.ema`` keeps a moving average of the weights
    in the optimizer (`AveragingAdam`; saved with its state in the checkpoint)."""
    return adam(schedule or make_schedule(config), ema=config.ema)


def compiled_trainer(config, schedule=None, jit_compile=False):
    """The network of ``config`` and its compiled trainer, optimizers built (ready for a checkpoint).

    A ``gan`` term in the loss gives a `GANTrainer` with the config's discriminator and its own Adam;
    ``teacher`` a `DistillationTrainer` against those models' blended images.
    """
    arch = get_arch(config.arch)
    net = build(config.arch, None if arch.multiscale else config.scale, **config.model_overrides())
    if config.adversarial:
        discriminator = build_discriminator(config.discriminator, config.d_features)
        d_optimizer = adam(config.d_lr or config.lr, beta_2=0.99)
        trainer = GANTrainer(net, discriminator, config.loss_spec, d_optimizer, config.scale)
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
    trainer.compile(make_optimizer(config, schedule), make_loss(config.loss_spec, config.scale),
                    jit_compile=jit_compile)
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


def make_evaluator(model, config):
    """A compiled view of a single-scale ``model`` (shared weights) scoring PSNR/SSIM; its loss is the run's
    pixel term."""
    evaluator = keras.Model(model.input, model.output, name=f"{model.name}_evaluator")
    evaluator.compile(loss=make_loss(config.loss_spec.pixel), metrics=[PSNR(config.scale), SSIM(config.scale)])
    return evaluator


def _source(config, scale, split):
    return resolve(config.dataset, scale, split=split, data_dir=config.data_dir, degradation=config.lr_files(),
                   teacher_share=1.0 if config.teacher_share is None else config.teacher_share)


def _held_out(source, config):
    """(training, held-out) of a training source under ``--hold-out``; a `ConfigError` unless it is a set of files."""
    if not isinstance(source, PairedSet):
        raise ConfigError(f"--hold-out needs a dataset of image files, not {config.dataset}")
    try:
        return split_held_out(source, config.hold_out)
    except ValueError as e:
        raise ConfigError(str(e)) from None


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
    sources = [_source(config, s, "train") for s in scales]
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


def validation_source(config):
    """The images a run validates on: its held-out images, ``--eval-dataset``, a teacher set's valid crops, or
    the dataset's own validation split; degraded like ``--eval-degradation``."""
    scale = config.scale
    if config.hold_out:
        held = _held_out(_source(config, scale, "train"), config)[1]
        return held.degraded(config.eval_degradation_chain(), seed=config.seed)
    if config.eval_dataset is None and config.on_teacher_set:
        return _source(config, scale, "valid")
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


def validation_data(config):
    """(validation source, dataset of whole images) for a resolved config."""
    source = validation_source(config)
    return source, validation_dataset(source, center_crop=config.eval_crop)


def preview_crops(source, scale, count=3, size=32):
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
