"""The optimisation recipe: learning-rate schedules, Adam with a weight average, time budgets.

``step`` is the papers' schedule (halve every N steps); ``cosine`` decays
to zero at the last step, the better use of a short budget. Both can
start with a linear warm-up. The cosine's length is a variable, so that a
run with a time budget can fit it once the speed is measured.
`AveragingAdam` keeps the moving average of the weights that ``--ema``
validates and saves; `loss_scaled` wraps an optimizer for float16.
"""
import math
import re

import keras
from keras import ops

from tfsr.compat import moving_averages

SCHEDULES = ("step", "cosine")


class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """``lr`` halved every ``halve_every`` steps, or cosine-decayed to 0 at ``total_steps``.

    With ``warmup_steps`` the rate first rises linearly from lr/warmup to lr.
    """

    def __init__(self, lr, schedule="step", halve_every=200_000, total_steps=300_000, warmup_steps=0):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule is one of {', '.join(SCHEDULES)}, got {schedule!r}")
        self.lr, self.schedule = float(lr), schedule
        self.halve_every, self.warmup_steps = int(halve_every), int(warmup_steps)
        self.total_steps = keras.Variable(float(total_steps), trainable=False, name="schedule_total_steps")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.schedule == "step":
            rate = self.lr * ops.power(0.5, ops.floor(step / self.halve_every))
        else:
            span = ops.maximum(self.total_steps - self.warmup_steps, 1.0)
            progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            rate = self.lr * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps:
            rate = rate * ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return rate

    def fit_to(self, total_steps):
        """Make the cosine end at ``total_steps``."""
        self.total_steps.assign(float(total_steps))

    def get_config(self):
        return {"lr": self.lr, "schedule": self.schedule, "halve_every": self.halve_every,
                "total_steps": int(self.total_steps.numpy()), "warmup_steps": self.warmup_steps}


class AveragingAdam(keras.optimizers.Adam):
    """Adam keeping an exponential moving average of the weights (``use_ema``), warmed up.

    Keras' average starts at the initial weights and decays by a fixed
    ``ema_momentum``: at 0.999 the random initialisation still weighs 0.999^500
    = 61 % after 500 steps. Here the decay is min(momentum, (1 + t)/(10 + t))
    at step t, as ``tf.train.ExponentialMovingAverage(num_updates=t)``, so the
    average follows training from the start. The average lives in the
    optimizer's variables and is saved and restored with its state.
    """

    def __init__(self, *args, ema_momentum=0.999, **kwargs):
        super().__init__(*args, use_ema=True, ema_momentum=ema_momentum, **kwargs)

    def _update_model_variables_moving_average(self, trainable_variables):
        step = ops.cast(self.iterations, "float32")
        momentum = ops.minimum(self.ema_momentum, (1.0 + step) / (10.0 + step))
        for variable, average in zip(trainable_variables, moving_averages(self)):
            if average is not None:
                m = ops.cast(momentum, variable.dtype)
                average.assign(m * average + (1.0 - m) * variable)


class CountingLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' dynamic loss scaling (float16), except that a skipped step still counts as a step.

    Keras skips the update of a step whose scaled gradients overflow and
    halves the scale, leaving ``iterations`` where it was. A run's step is
    ``iterations``: it would then lag behind the batches ``fit`` counts, and the
    run would end short of its last validation and checkpoint. Here the
    skipped step counts (the schedule moves on, as PyTorch's does; Adam's bias
    correction sees it, which matters only in the first few hundred steps).
    """

    def _stateful_handle_non_finite_grads(self):
        super()._stateful_handle_non_finite_grads()
        self.inner_optimizer.iterations.assign_add(1)


ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)  # the papers' (EDSR, WDSR); Real-ESRGAN's D: beta_2 0.99


def adam(learning_rate, ema=None, **changes):
    """Adam with the papers' settings (`ADAM`, ``changes`` replacing some), for float16 wrapped in loss scaling
    (`loss_scaled`); ``ema``: an `AveragingAdam` keeping a moving average of the weights with that decay."""
    settings = {**ADAM, **changes}
    if ema:
        return loss_scaled(AveragingAdam(learning_rate, ema_momentum=ema, **settings))
    return loss_scaled(keras.optimizers.Adam(learning_rate, **settings))


def loss_scaled(optimizer):
    """``optimizer`` wrapped for dynamic loss scaling when float16 mixed precision is on (else as it is)."""
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        return CountingLossScaleOptimizer(optimizer)
    return optimizer


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text):
    """Seconds in ``"2h30m"``, ``"90m"``, ``"45s"``, ``"1.5h"`` or a plain number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    text = str(text).strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.fullmatch(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a duration (examples: 2h30m, 90m, 45s, 3600)")
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds):
    """``2h30m``-style text for a number of seconds."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{v}{unit}" for v, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if v) or "0s"
