"""A training run's options: the schema, what fits together, and what ``--resume`` may change.

`TrainConfig` holds every option (the CLI flags and ``--config`` keys).
`resolved` fills in the architecture's recipe, `validate` names what cannot
work, and a run folder's ``config.json`` is the resolved config, which
``--resume`` reads back (`resumed_config`) and checks (`check_resumable`).
"""
import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from tfsr.data.degradation_options import DegradationError
from tfsr.data.degradations import degradation
from tfsr.data.images import atomic_output
from tfsr.data.teacher_sets import is_teacher_set
from tfsr.models import get_arch
from tfsr.models.discriminators import DISCRIMINATORS
from tfsr.training.callbacks import Checkpoint
from tfsr.training.distillation import TeacherError, check_teacher_weights, load_teachers
from tfsr.training.losses import LossSpecError, parse_loss
from tfsr.training.optimization import parse_duration

MIXED_PRECISION = (None, False, True, "auto", "float16", "bfloat16")  # False/True: older run configs
MODEL_OPTIONS = ("blocks", "convs", "features", "expansion", "low_rank", "res_scale", "init", "activation",
                 "conv_init", "base")
FORMAT = 2  # 2: every loss term on [0, 1]; configs without a format are 1 (a bare l1/l2 on [0, 255])


class ConfigError(ValueError):
    """Options that do not fit together, or a run folder that does not fit them."""


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
    loss: str = None  # "l1", or weighted terms "l1:1,fft:1,gan:0.1" (tfsr.training.losses); parsed: loss_spec
    discriminator: str = "unet"  # with a gan term: unet (Real-ESRGAN's) or patch
    d_features: int = 64
    d_lr: float = None  # the discriminator's learning rate (default: lr)
    teacher: list = None  # train on these models' blended images instead of the HR (tfsr.training.distillation)
    teacher_weights: list = None  # their shares in the blend (default: equal)
    teacher_share: float = None  # on a teacher set: the share of crops trained towards the teacher (default 1)
    hold_out: int = None  # validate on this many training images kept out of training
    seed: int = 0
    output: str = None
    eval_every: int = 1000
    eval_dataset: str = None
    eval_images: int = None
    eval_crop: int = None
    checkpoint_every: int = 1000
    init_from: str = None
    mixed_precision: str = None  # float16, bfloat16, or auto (tfsr.training.precision); None: float32
    strategy: str = "default"
    cache: str = "memory"
    patches_per_image: int = 1
    scale_augment: list = None
    changes: list = None  # recipe changes made on --resume: [{"step": 17000, "scale_augment": [...]}]
    skip_bad_images: bool = False
    jit_compile: bool = None
    blocks: int = None
    convs: int = None
    features: int = None
    expansion: int = None
    low_rank: float = None
    res_scale: float = None
    init: str = None
    activation: str = None
    conv_init: str = None
    base: str = None
    format: int = FORMAT

    def resolved(self):
        """A copy with the recipe's defaults filled in.

        A cosine schedule with a time budget and no ``steps`` keeps
        ``steps`` None: the run fits it to the budget once it has measured
        its speed.
        """
        recipe = get_arch(self.arch).recipe
        values = self.to_dict()
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

    @functools.cached_property
    def loss_spec(self):
        """``loss`` parsed, once (`tfsr.training.losses.LossSpec`); a `ConfigError` if it cannot be."""
        try:
            return parse_loss(self.loss or "l1", legacy=self.format < 2)
        except LossSpecError as e:
            raise ConfigError(str(e)) from None

    @property
    def fits_budget(self):
        """Whether the cosine's length is to be fitted to the time budget."""
        return self.schedule == "cosine" and self.time_budget is not None and self.steps is None

    @property
    def on_teacher_set(self):
        """Whether the dataset is a teacher set (`tfsr.data.teacher_sets`), or several: LR as made, teacher
        targets."""
        return all(is_teacher_set(part.strip()) for part in str(self.dataset).split(","))

    @property
    def adversarial(self):
        """Whether the loss has a GAN term (a discriminator trains beside the network)."""
        return self.loss_spec.adversarial

    @property
    def perceptual(self):
        """Whether the run learns texture its validation PSNR cannot see (a GAN term, or teachers' images
        blended on the fly): validation then scores NIQE and keeps the most natural model above bicubic.
        A teacher set's runs validate against the teacher's images and keep the highest PSNR to them."""
        return self.adversarial or bool(self.teacher)

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
        if self.adversarial and arch.multiscale:
            raise ConfigError(f"--loss {self.loss}: adversarial training is for single-scale models, not {self.arch}")
        if self.teacher or self.teacher_weights:
            try:
                check_teacher_weights(self.teacher, self.teacher_weights)
                load_teachers(self.teacher, self.scale)  # before a run folder is made for them
            except TeacherError as e:
                raise ConfigError(str(e)) from None
            if self.adversarial or arch.multiscale:
                raise ConfigError(f"--teacher trains one scale on a pixel loss; not with "
                                  f"{'--loss ' + self.loss if self.adversarial else self.arch}")
        self._validate_teacher_set(arch)
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

    def _validate_teacher_set(self, arch):
        if not self.on_teacher_set:
            if self.teacher_share is not None:
                raise ConfigError(f"--teacher-share is for a teacher set (tfsr.teach); {self.dataset} is not one")
            return
        clash = [flag for flag, given in (("--degradation", self.degradation != "bicubic"),
                                          ("--hold-out", self.hold_out is not None), ("--teacher", self.teacher),
                                          ("--scale-augment", self.scale_augment), ("an MDSR arch", arch.multiscale))
                 if given]
        if clash:
            raise ConfigError(f"{self.dataset} is a teacher set: its LR crops were degraded when it was made and its "
                              f"held-out photos give its valid crops; not with {', '.join(clash)}")
        if self.teacher_share is not None and not 0 <= self.teacher_share <= 1:
            raise ConfigError(f"--teacher-share is between 0 and 1, got {self.teacher_share}")

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

    def model_overrides(self):
        return {k: getattr(self, k) for k in MODEL_OPTIONS if getattr(self, k) is not None}

    def to_dict(self):
        """The options as ``config.json`` keeps them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values, source="config"):
        """A config from option names (``scale-augment`` or ``scale_augment``); an unknown one is a `ConfigError`.
        A stored config without ``format`` is of format 1."""
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = set(values) - set(OPTIONS)
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {', '.join(sorted(unknown))}")
        return cls(**values)


OPTIONS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def write_config(config, output):
    """``config.json`` of a run folder, written atomically."""
    with atomic_output(Path(output) / "config.json") as tmp:
        tmp.write_text(json.dumps(config.to_dict(), indent=2))


def load_run_config(output):
    """The config.json of an earlier run, for ``--resume``."""
    path = Path(output) / "config.json"
    if not path.exists():
        raise ConfigError(f"{path}: nothing to resume (no config.json in {output})")
    values = json.loads(path.read_text())
    return TrainConfig.from_dict({"format": 1, **values}, str(path))


# What --resume may change: the length and budget of the run, what depends on the machine (where the
# data is, caching, distribution, XLA) and the validation (a new one chooses the best model anew, the old
# best kept as best.previous). The rest is the run's identity, except the recipe
# changes a run may take on late (scale augmentation, the training log §6 in docs/history/): those are allowed
# and recorded in the run's config as {"step": ..., option: value}.
RECORDED_CHANGES = {"scale_augment"}
RESUMABLE = {"steps", "time_budget", "eval_every", "checkpoint_every", "dataset", "eval_dataset", "eval_images",
             "eval_crop", "eval_degradation", "cache", "data_dir", "strategy", "jit_compile"} | RECORDED_CHANGES
_FREE = RESUMABLE | {"output", "changes", "time_budget", "format"}


def _identity_changes(stored, config, names):
    return sorted(name for name in names if name not in _FREE and getattr(config, name) != getattr(stored, name))


def _cannot_change(output, changed, hint=""):
    return ConfigError(f"--resume continues the run in {output} as it was configured; cannot change "
                       f"{', '.join(changed)}{hint}")


def resumed_config(output, overrides=None, source="options"):
    """The config that continues the run in ``output``, with the ``overrides`` ``--resume`` allows.

    The run continues in the folder named now, even if it was copied or moved there; a time budget is this
    invocation's, not inherited; a late recipe change (`RECORDED_CHANGES`) is recorded with the checkpoint's
    step. An unknown option, or a change to what makes the run what it is,
    is a `ConfigError`.
    """
    stored = load_run_config(output)
    given = TrainConfig.from_dict(overrides or {}, source)  # names checked; values are the given ones
    overrides = {k.replace("-", "_"): v for k, v in (overrides or {}).items()}
    changed = _identity_changes(stored, given, overrides)
    if changed:
        raise _cannot_change(output, changed)
    updates = {"time_budget": None, **{k: v for k, v in overrides.items() if k in RESUMABLE}, "output": str(output)}
    recorded = {k: updates[k] for k in RECORDED_CHANGES & set(updates) if getattr(stored, k) != updates[k]}
    if recorded:
        updates["changes"] = [*(stored.changes or []), {"step": Checkpoint.saved_step(output), **recorded}]
    return TrainConfig.from_dict({**stored.to_dict(), **updates})


def check_resumable(config, output):
    """`ConfigError` unless ``config`` (resolved) is the run's own, up to what --resume may change."""
    changed = _identity_changes(load_run_config(output).resolved(), config, OPTIONS)
    if changed:
        raise _cannot_change(output, changed, " (tfsr.training.resumed_config makes the config that continues it)")
