"""Loading trained models: ``.keras`` files, SavedModel folders and presets, checked to be SR models.

`load_model` returns a Keras model whatever the source; `for_scale` picks
(and checks) one scale of it; `pretrained` loads a shipped preset.
"""
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfsr.errors import ModelError
from tfsr.models.interpolation import blend
from tfsr.models.mdsr import select_scale
from tfsr.models.presets import get_preset, is_preset, not_found, preset_file


def load_model(path):
    """A ``.keras`` file (safe mode), a SavedModel folder or a preset name, as a Keras model.

    SavedModels are wrapped in a Keras layer calling ``serving_default``.
    """
    path = preset_file(str(path), "keras") if is_preset(path) else Path(path)
    if not path.exists():
        raise ModelError(not_found(path))
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ModelError(f"{path}: not a SavedModel folder (no saved_model.pb)")
        return _saved_model_as_keras(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: not a model file (expected a .keras file or a SavedModel folder)")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: cannot be loaded as a Keras model ({first_line})") from None
    _check_sr_model(model, path)
    return model


def _saved_model_as_keras(path):
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ModelError(f"{path}: SavedModel has no serving_default signature")
    signature = loaded.signatures["serving_default"]
    input_name = next(iter(signature.structured_input_signature[1]))
    output_name = next(iter(signature.structured_outputs))
    input_dtype = signature.structured_input_signature[1][input_name].dtype

    class SavedModelLayer(keras.layers.Layer):
        def call(self, x):
            y = signature(**{input_name: tf.cast(x, input_dtype)})[output_name]
            return tf.cast(y, tf.float32)

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, SavedModelLayer()(inputs), name=path.name)
    model._tfsr_saved_model = loaded  # keep the variables alive
    _check_sr_model(model, path)
    return model


def _check_sr_model(model, path):
    shape = model.inputs[0].shape if len(model.inputs) == 1 else None
    if shape is None or len(shape) != 4 or shape[-1] != 3:
        raise ModelError(f"{path}: not a tfsr model (expects one RGB image input, has "
                         f"{[tuple(t.shape) for t in model.inputs]})")
    model_scales(model, path)


def model_scales(model, path=None):
    """{scale: output index} found by running the model on a small input."""
    probe = np.zeros((1, 8, 8, 3), np.float32)
    try:
        outputs = model(probe)
    except Exception as e:
        raise ModelError(f"{path or model.name}: not a tfsr model (fails on an 8x8 RGB input: "
                         f"{type(e).__name__})") from None
    outputs = list(outputs.values()) if isinstance(outputs, dict) else keras.tree.flatten(outputs)
    scales = {}
    for i, y in enumerate(outputs):
        h, w, c = y.shape[1:]
        if c != 3 or h != w or h % 8 or h < 16:
            raise ModelError(f"{path or model.name}: not a tfsr model (maps 8x8x3 to {h}x{w}x{c})")
        scales[h // 8] = i
    return scales


def for_scale(model, scale=None, path=None):
    """The single-output model for ``scale`` (checked), and that scale.

    ``scale=None`` accepts a single-scale model as it is.
    """
    scales = model_scales(model, path)
    name = path or model.name
    if scale is None:
        if len(scales) > 1:
            raise ModelError(f"{name}: a multi-scale model (x{', x'.join(map(str, scales))}); "
                             f"choose one with --scale")
        scale = next(iter(scales))
    if scale not in scales:
        raise ModelError(f"{name}: the model upscales x{', x'.join(map(str, scales))}, not x{scale}")
    if len(scales) > 1:
        model = select_scale(model, scale)
    return model, scale


def pretrained(name, strength=None):
    """The shipped Keras model of preset ``name`` (e.g. ``"wdsr_b_x4"``), ready to use or fine-tune.

    ``strength`` (a preset with a partner; default: the preset's own): its
    weights, or its images (``Preset.blend``), blended with the partner's,
    ``strength * preset + (1 - strength) * partner``, as one network; 1 is
    the preset's ``.keras`` file, 0 the partner.
    """
    preset = get_preset(name)
    if strength is None:
        strength = preset.strength if preset.partner else 1
    if strength == 1:
        return load_model(preset_file(name, "keras"))
    partner = preset.partner
    if partner is None:
        raise ModelError(f"{name}: no fidelity partner to blend with (no --strength)")
    if strength == 0:
        return load_model(preset_file(partner, "keras"))
    return blend(load_model(preset_file(name, "keras")), load_model(preset_file(partner, "keras")), strength,
                 preset.blend)
