"""Training a model: the run (config, data, callbacks, checkpoints), the trainers, the schedules, the sweeps.

    run           `TrainConfig` and `train`: a run folder from options, resumable
    trainers      the Keras train steps (single- and multi-scale)
    adversarial   the GAN train step: the network against a discriminator, two optimizers
    distillation  the train step against teachers' blended images instead of the HR (--teacher)
    losses        --loss terms: pixel, amplitude spectrum, random-VGG features, GAN
    callbacks     validation, checkpoints, time budget, logging
    optimization  learning-rate schedules and Adam with a weight average
    tuning        keras-tuner sweeps over width and depth

Names are imported on first use. Training never imports the int8 code
(`tfsr.deploy`).
"""
from tfsr.imports import lazy_attributes

_WHERE = {
    "run": ("ConfigError", "TrainConfig", "TrainResult", "TrainingError", "copy_matching_layers",
            "load_run_config", "make_optimizer", "resumed_config", "train", "training_data", "validation_data"),
}
__getattr__ = lazy_attributes(__name__, _WHERE)
