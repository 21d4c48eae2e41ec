"""The model zoo: EDSR, MDSR, WDSR-A and WDSR-B, built by name.

    >>> from tfsr.models import build
    >>> model = build("wdsr_b", scale=4)
"""
from tfsr.models.mdsr import select_scale
from tfsr.models.registry import ARCHS, Recipe, build, get_arch, hyperparameters

__all__ = ["ARCHS", "Recipe", "build", "get_arch", "hyperparameters", "select_scale"]
