"""Named architectures: presets of the model families and their paper recipes."""
from dataclasses import dataclass, field, replace

from tfsr.models.edsr import edsr
from tfsr.models.mdsr import mdsr, select_scale
from tfsr.models.srvgg import srvgg
from tfsr.models.wdsr import wdsr


@dataclass(frozen=True)
class Recipe:
    """Training defaults from the papers (Adam β1 0.9, β2 0.999, ε 1e-8)."""

    lr: float
    halve_every: int = 200_000
    steps: int = 300_000
    batch_size: int = 16
    patch_size: int = 48
    loss: str = "l1:255"  # the papers' L1 on [0, 255] images; every --loss term is on [0, 1] (tfsr.training.losses)
    jit_compile: bool = False  # XLA: the faster path on CPU per tools/benchmark_train.py


EDSR_RECIPE = Recipe(lr=1e-4, jit_compile=True)
WDSR_RECIPE = Recipe(lr=1e-3, jit_compile=True)  # weight norm allows a 10x learning rate
MDSR_RECIPE = Recipe(lr=1e-4)  # its one-scale-per-step update is a conditional; not timed under XLA
SRVGG_RECIPE = Recipe(lr=2e-4, halve_every=100_000, steps=400_000)  # Real-ESRGAN's compact-net settings


@dataclass(frozen=True)
class Arch:
    family: str
    builder: object
    defaults: dict
    options: tuple  # the hyperparameters that may be overridden
    scales: tuple
    recipe: Recipe
    multiscale: bool = False
    extra: dict = field(default_factory=dict)  # fixed builder arguments


_EDSR_OPTIONS = ("blocks", "features", "res_scale", "conv_init")
_WDSR_OPTIONS = ("blocks", "features", "expansion", "res_scale", "init", "conv_init")
_INIT = "torch"  # conv_init of every preset (the reference code's; the training log §1 in docs/history/); see tfsr.models.common

ARCHS = {
    "edsr_baseline": Arch("edsr", edsr, dict(blocks=16, features=64, res_scale=1.0, conv_init=_INIT),
                          _EDSR_OPTIONS, (2, 3, 4, 8), EDSR_RECIPE),
    "edsr": Arch("edsr", edsr, dict(blocks=32, features=256, res_scale=0.1, conv_init=_INIT),
                 _EDSR_OPTIONS, (2, 3, 4, 8), EDSR_RECIPE),
    "mdsr_baseline": Arch("mdsr", mdsr, dict(blocks=16, features=64, conv_init=_INIT),
                          ("blocks", "features", "conv_init"), (2, 3, 4), MDSR_RECIPE, multiscale=True),
    "mdsr": Arch("mdsr", mdsr, dict(blocks=80, features=64, conv_init=_INIT),
                 ("blocks", "features", "conv_init"), (2, 3, 4), MDSR_RECIPE, multiscale=True),
    "wdsr_a": Arch("wdsr", wdsr, dict(blocks=16, features=32, expansion=4, res_scale=1.0, init="norm",
                                           conv_init=_INIT),
                   _WDSR_OPTIONS, (2, 3, 4, 8), WDSR_RECIPE, extra=dict(block="a")),
    "wdsr_b": Arch("wdsr", wdsr,
                   dict(blocks=16, features=32, expansion=6, low_rank=0.8, res_scale=1.0, init="norm", conv_init=_INIT),
                   _WDSR_OPTIONS + ("low_rank",), (2, 3, 4, 8), replace(WDSR_RECIPE, jit_compile=False),
                   extra=dict(block="b")),
    "srvgg": Arch("srvgg", srvgg, dict(features=64, convs=16, activation="prelu", conv_init="he", base="nearest"),
                  ("features", "convs", "activation", "conv_init", "base"), (2, 3, 4), SRVGG_RECIPE),
}


def get_arch(name):
    """The registry entry for ``name``, with a clear error for unknown names."""
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHS)}") from None


def hyperparameters(name, **overrides):
    """The preset's hyperparameters with non-None ``overrides`` applied."""
    arch = get_arch(name)
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - set(arch.options)
    if unknown:
        raise ValueError(f"{name} has no option {', '.join(sorted(unknown))}; "
                         f"it takes {', '.join(arch.options)}")
    return {**arch.defaults, **given}


def build(name, scale, **overrides):
    """Build architecture ``name`` at ``scale``.

    ``overrides`` replace preset hyperparameters (``blocks``, ``features``,
    ``expansion``, ``low_rank``, ``res_scale``, ``init``, ``conv_init``,
    ``convs``, ``activation``, ``base``; None is ignored).
    For a multi-scale family (MDSR), ``scale=None`` gives the model with an
    output per scale; a number gives that scale's branch.
    """
    arch = get_arch(name)
    params = {**hyperparameters(name, **overrides), **arch.extra}
    if arch.multiscale:
        if scale is not None and scale not in arch.scales:
            raise ValueError(f"{name} supports scales {arch.scales}, got {scale}")
        model = arch.builder(**params, name=name)
        return model if scale is None else select_scale(model, scale)
    if scale not in arch.scales:
        raise ValueError(f"{name} supports scales {arch.scales}, got {scale}")
    return arch.builder(scale, **params, name=f"{name}_x{scale}")
