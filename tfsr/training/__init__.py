"""Training a model: options, the run, its parts, the trainers, the schedules, the sweeps.

    config        `TrainConfig`: every option, what fits together, what --resume may change
    run           `train`: a run folder from a config, resumable
    assembly      the run's data, network, trainer, optimizer and scorer
    growing       --init-from: copy a trained model's layers, grow a narrower one
    precision     --mixed-precision: the compute dtype
    workers       --strategy and multi-worker plumbing
    summaries     the run's console lines
    trainers      the Keras train steps (single- and multi-scale)
    adversarial   the GAN train step: the network against a discriminator, two optimizers
    distillation  the train step against teachers' blended images instead of the HR (--teacher)
    losses        --loss parsed once into a LossSpec; the terms' registry
    callbacks     validation, checkpoints, time budget, logging
    optimization  Adam, learning-rate schedules, a weight average
    tuning        keras-tuner sweeps over width and depth

Names are imported on first use. Training never imports the int8 code
(`tfsr.deploy`).
"""
from tfsr.imports import lazy_attributes

_WHERE = {
    "config": ("ConfigError", "TrainConfig", "load_run_config", "resumed_config"),
    "run": ("TrainResult", "TrainingError", "train"),
    "assembly": ("make_optimizer", "training_data", "validation_data"),
    "growing": ("copy_matching_layers",),
    "losses": ("LossSpec", "make_loss", "parse_loss"),
}
__getattr__ = lazy_attributes(__name__, _WHERE)
