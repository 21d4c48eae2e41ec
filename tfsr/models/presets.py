"""Shipped models by name (keras-hub style presets): ``tfsr.models.pretrained("wdsr_b_x4")``.

The files are made in the repository's ``saved_models/`` folder: a
``.keras`` model and its verified TFLite exports (``<name>_float16.tflite``,
``<name>_int8.tflite``). A preset with a fidelity ``partner`` has a
strength slider: its ``.keras`` file is strength 1, and its ``.tflite``
files and scores are at its default ``strength`` (the blend apps run).
The wheel carries the float ones (``.keras``, ``_float16.tflite`` and
their reports, about 2.5 MB a preset) as package
data in ``tfsr/models/weights/``, copied there by setup.py when it is
built, so a preset works after ``pip install`` with no network; int8 files
are made from them with ``tfsr-export``. Files are looked up in
``$TFSR_MODELS``, then in the package, then in ``saved_models/`` beside
the package (a clone installed with ``pip install -e .``), then in
``~/.tfsr/models``.

Importing this module does not import TensorFlow: the upscaler resolves a
preset to its ``.tflite`` file and runs it with LiteRT alone.
"""
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Preset:
    name: str
    arch: str
    scale: int
    description: str
    inputs: str = "bicubic"  # the degradation chain it was trained for (`tfsr.data.degradations`)
    partner: str = None  # a faithful model: --strength blends towards it (0: the partner)
    strength: float = 1.0  # the default --strength (1: the .keras file's weights); the .tflite files are made at it
    blend: str = "weights"  # how: "weights" (the same network fine-tuned apart) or "outputs" (their images)


_REAL = ("for real photos: fine-tuned on the mixed degradation chain (clean, JPEG, blur + noise + JPEG, BSRGAN, "
         "Real-ESRGAN), then on the photo chain (clean, JPEG, blur + noise + JPEG)")

PRESETS = {p.name: p for p in (
    Preset("wdsr_b_x2", "wdsr_b", 2, "WDSR-B (16 blocks, 32 features) x2, trained by tfsr on the 291 images"),
    Preset("wdsr_b_x3", "wdsr_b", 3, "WDSR-B (16 blocks, 32 features) x3, trained by tfsr on the 291 images"),
    Preset("wdsr_b_x4", "wdsr_b", 4, "WDSR-B (16 blocks, 32 features) x4, trained by tfsr on the 291 images"),
    Preset("wdsr_b_x2_real", "wdsr_b", 2, f"WDSR-B x2 {_REAL}", inputs="photo"),
    Preset("wdsr_b_x4_real", "wdsr_b", 4, f"WDSR-B x4 {_REAL}, then on a JPEG-heavier photo mixture",
           inputs="photo"),
    Preset("wdsr_b_x4_gan", "wdsr_b", 4, "WDSR-B x4 for photos to look at: a GAN stage (L1, HED features, "
           "amplitude spectrum, grid term, U-Net discriminator) and an L1 model for photos, their images blended "
           "0.45 : 0.55 in one network twice as wide (tfsr.interpolate --space outputs, 1.21 M parameters); "
           "--strength s blends its images with wdsr_b_x4_real's (1: itself, 0: wdsr_b_x4_real)",
           inputs="photo", partner="wdsr_b_x4_real", blend="outputs"),
)}

FORMATS = {"keras": ".keras", "float16": "_float16.tflite", "int8": "_int8.tflite"}
"""The shipped files of a preset, by format: ``<name><suffix>``."""


class PresetError(ValueError):
    """An unknown preset name, or a preset whose file is not on this machine."""


def search_path():
    """The folders searched for preset files, in order."""
    here = Path(__file__).resolve().parent
    folders = [Path(os.environ["TFSR_MODELS"])] if os.environ.get("TFSR_MODELS") else []
    folders.append(here / "weights")  # an installed wheel's package data
    folders.append(here.parents[1] / "saved_models")  # a clone
    folders.append(Path.home() / ".tfsr" / "models")
    return folders


def is_preset(spec):
    """Whether a ``--model`` value names a preset (rather than a file)."""
    return str(spec) in PRESETS


def get_preset(name):
    try:
        return PRESETS[name]
    except KeyError:
        raise PresetError(f"unknown preset {name!r}; {presets_hint(name)}") from None


def not_found(spec):
    """The one line for a --model value that is neither a file nor a preset: a name gets the presets listed."""
    looks_like_a_name = "/" not in str(spec) and not Path(str(spec)).suffix
    if looks_like_a_name:
        return f"{spec}: not a preset and no such file or folder ({presets_hint(spec)})"
    return f"{spec}: no such file or folder"


def presets_hint(name):
    """``choose from a, b, c`` and, for a near miss, ``(did you mean b?)``."""
    import difflib
    close = difflib.get_close_matches(str(name), PRESETS, n=1, cutoff=0.6)
    return f"presets: {', '.join(PRESETS)}" + (f" (did you mean {close[0]}?)" if close else "")


def preset_file(name, fmt="keras"):
    """The path of preset ``name``'s file in format ``fmt`` (see `FORMATS`).

    Raises `PresetError` saying where it looked and how to get the file.
    """
    get_preset(name)
    if fmt not in FORMATS:
        raise PresetError(f"unknown preset format {fmt!r}; choose from {', '.join(FORMATS)}")
    filename = name + FORMATS[fmt]
    for folder in search_path():
        if (folder / filename).is_file():
            return folder / filename
    looked = ", ".join(str(f) for f in search_path())
    raise PresetError(f"{filename}: preset {name} is not on this machine (looked in {looked}); it ships in "
                      f"the tfsr wheel and in saved_models/ of the repository (clone it and `pip install -e .`), "
                      f"or copy the file into ~/.tfsr/models or $TFSR_MODELS")
