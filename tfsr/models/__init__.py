"""The model zoo: EDSR, MDSR, WDSR-A and WDSR-B, built by name or loaded ready-trained.

    >>> from tfsr.models import build, pretrained
    >>> model = build("wdsr_b", scale=4)       # a new network
    >>> model = pretrained("wdsr_b_x4")        # the WDSR-B x4 tfsr ships
"""
from tfsr.models.loading import pretrained
from tfsr.models.mdsr import select_scale
from tfsr.models.registry import ARCHS, Recipe, build, get_arch, hyperparameters
from tfsr.presets import PRESETS

__all__ = ["ARCHS", "PRESETS", "Recipe", "build", "get_arch", "hyperparameters", "pretrained", "select_scale"]
