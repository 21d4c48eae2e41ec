"""The model zoo: EDSR, MDSR, WDSR-A, WDSR-B and SRVGG, built by name or loaded ready-trained.

    >>> from tfsr.models import build, pretrained
    >>> model = build("wdsr_b", scale=4)       # a new network
    >>> model = pretrained("wdsr_b_x4")        # the WDSR-B x4 tfsr ships

Names are imported on first use: the presets (`tfsr.models.presets`) are
read without importing Keras, which only building or loading a model needs.
"""
from tfsr.imports import lazy_attributes

ARCHITECTURES = ("edsr_baseline", "edsr", "mdsr_baseline", "mdsr", "wdsr_a", "wdsr_b", "srvgg")  # the registry's, for --help

_WHERE = {
    "registry": ("ARCHS", "Recipe", "build", "get_arch", "hyperparameters"),
    "mdsr": ("select_scale",),
    "loading": ("ModelError", "for_scale", "load_model", "model_scales", "pretrained"),
    "presets": ("PRESETS", "Preset", "PresetError", "get_preset"),
}
__getattr__ = lazy_attributes(__name__, _WHERE)
