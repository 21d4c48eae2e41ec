"""The degradation chains' options: their names, defaults and checks (no TensorFlow).

Every probability and range of a chain (`tfsr.data.degradations`) is a named
option with a default (Real-ESRGAN's names where it has them; a ``2`` suffix
is its second stage). `chain_options` fills in the defaults, applies a
user's overrides and names what is wrong with them, one line.
"""
import re


class DegradationError(ValueError):
    """An unknown chain or option, or an invalid value; the message names it."""


def _stage_options(suffix, sigma, noise, poisson, resize_prob, resize_range, blur_prob=None):
    options = {
        f"kernel_prob{suffix}": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
        f"sinc_prob{suffix}": 0.1,
        f"blur_sigma{suffix}": sigma,
        f"betag_range{suffix}": [0.5, 4.0],
        f"betap_range{suffix}": [1.0, 2.0],
        f"resize_prob{suffix}": resize_prob,
        f"resize_range{suffix}": resize_range,
        f"gaussian_noise_prob{suffix}": 0.5,
        f"noise_range{suffix}": noise,
        f"poisson_scale_range{suffix}": poisson,
        f"gray_noise_prob{suffix}": 0.4,
        f"jpeg_range{suffix}": [30, 95],
    }
    if blur_prob is not None:
        options["second_blur_prob"] = blur_prob
    return options


# Each chain's options and their defaults (the published settings where there are some).
DEFAULTS = {
    "bicubic": {},
    "jpeg": {"jpeg_range": [30, 95]},
    "classical": {"blur_prob": 1.0, "aniso_prob": 0.5, "blur_sigma": [0.2, 2.0], "noise_prob": 1.0,
                  "noise_range": [0, 15], "gray_noise_prob": 0.4, "jpeg_prob": 1.0, "jpeg_range": [30, 95]},
    "bsrgan": {"blur_sigma": [0.1, 2.8], "aniso_prob": 0.5, "aniso_variance": [0.1, 8.0], "downsample_prob": 0.75,
               "downsample_range": [1.0, 8.0], "noise_range": [2, 25], "gray_noise_prob": 0.4, "jpeg_prob": 0.9,
               "jpeg_range": [30, 95]},
    "realesrgan": {**_stage_options("", [0.2, 3.0], [1, 30], [0.05, 3.0], [0.2, 0.7, 0.1], [0.15, 1.5]),
                   **_stage_options("2", [0.2, 1.5], [1, 25], [0.05, 2.5], [0.3, 0.4, 0.3], [0.3, 1.2],
                                    blur_prob=0.8),
                   "final_sinc_prob": 0.8, "final_noise_prob": 0.0},
    "mixed": {"weights": {"bicubic": 0.2, "jpeg": 0.25, "classical": 0.3, "bsrgan": 0.15, "realesrgan": 0.1}},
    "photo": {"weights": {"bicubic": 0.25, "jpeg": 0.35, "classical": 0.4}},
}
MIXTURES = ("mixed", "photo")  # chains that draw one of the others per image

# (smallest, largest) allowed value of each kind of range, by the option's name.
_DOMAINS = [("jpeg_range", (1, 100)), ("noise_range", (0, 255)), ("poisson_scale_range", (0, 100)),
            ("blur_sigma", (0.01, 50)), ("betag_range", (0.01, 20)), ("betap_range", (0.01, 20)),
            ("resize_range", (0.01, 10)), ("downsample_range", (1, 32)), ("aniso_variance", (0.01, 100))]


def _domain(key):
    for prefix, domain in _DOMAINS:
        if key.startswith(prefix):
            return domain
    return None


def _check(chain, key, value, default):
    """Raise `DegradationError` unless ``value`` is valid for option ``key``."""
    where = f"degradation {chain}: {key}"
    if key == "weights":
        if not isinstance(value, dict) or not value:
            raise DegradationError(f"{where} must map chain names to weights, got {value!r}")
        for name, weight in value.items():
            if name not in DEFAULTS or name in MIXTURES:
                raise DegradationError(f"{where}: unknown chain {name!r} ({', '.join(_chains_in_mix())})")
            if not isinstance(weight, (int, float)) or weight < 0:
                raise DegradationError(f"{where}: {name} must be a weight >= 0, got {weight!r}")
        if sum(value.values()) <= 0:
            raise DegradationError(f"{where}: the weights add up to 0")
        return
    if isinstance(default, list) and len(default) != 2:  # a distribution over choices
        if (not isinstance(value, (list, tuple)) or len(value) != len(default)
                or not all(isinstance(v, (int, float)) and v >= 0 for v in value)
                or abs(sum(value) - 1) > 1e-6):
            raise DegradationError(f"{where} must be {len(default)} probabilities >= 0 adding up to 1, got {value!r}")
        return
    if isinstance(default, list):
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, (int, float)) for v in value)):
            raise DegradationError(f"{where} must be a range [low, high], got {value!r}")
        low, high = value
        smallest, largest = _domain(key)
        if not smallest <= low <= high <= largest:
            raise DegradationError(f"{where} must satisfy {smallest} <= low <= high <= {largest}, got {list(value)}")
        return
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise DegradationError(f"{where} is a probability in [0, 1], got {value!r}")


def _chains_in_mix():
    return [name for name in DEFAULTS if name not in MIXTURES]


def chain_options(spec="bicubic", options=None):
    """(chain name, its options with ``options`` applied, options of each chain of a mixture) for ``spec``
    (``NAME`` or ``jpeg:QUALITY``); `DegradationError` names an unknown chain or option or a bad value."""
    name, _, argument = str(spec).partition(":")
    if name not in DEFAULTS:
        raise DegradationError(f"unknown degradation {name!r} ({', '.join(DEFAULTS)}, or jpeg:QUALITY)")
    params = {key: (dict(value) if isinstance(value, dict) else value) for key, value in DEFAULTS[name].items()}
    sub_options = {}
    for key, value in (options or {}).items():
        if name in MIXTURES and key in _chains_in_mix():
            sub_options[key] = value
            continue
        if key not in params:
            known = sorted(params) + (_chains_in_mix() if name in MIXTURES else [])
            raise DegradationError(f"degradation {name}: unknown option {key!r} (options: {', '.join(known)})")
        _check(name, key, value, params[key])
        params[key] = list(value) if isinstance(value, (list, tuple)) else value
    if argument:
        if name != "jpeg" or not re.fullmatch(r"\d+", argument) or not 1 <= int(argument) <= 100:
            raise DegradationError(f"degradation {spec!r}: only jpeg takes an argument, a quality 1-100 (jpeg:75)")
        params["jpeg_range"] = [int(argument), int(argument)]
    return name, params, sub_options
