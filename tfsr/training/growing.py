"""``--init-from``: start a network from a trained one, copying what matches and growing what is narrower."""
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from tfsr.layers import walk_layers
from tfsr.models import load_model, model_scales
from tfsr.training.assembly import checkpoint_model
from tfsr.training.config import ConfigError


class InitReport(NamedTuple):
    """What ``--init-from`` did: layers copied as they were, grown to a wider net, skipped (with why)."""
    copied: list
    grown: list
    skipped: dict


def copy_matching_layers(source_path, net):
    """Copy every layer of a source model whose name and weight shapes match into ``net``.

    The source is a model file, a preset, or a run folder (its checkpoint's
    raw weights: a run still in progress can seed another).
    A source of the same scale(s) that is narrower than ``net`` (fewer
    channels, same kernel sizes) is grown into it: its weights fill the
    leading channels and the new inputs of its old outputs are zeroed, so the
    wider net starts out computing exactly what the source did (checked on a
    probe image) while its new channels can learn.
    """
    is_run = Path(source_path).is_dir() and (Path(source_path) / "checkpoint.json").is_file()
    source = checkpoint_model(source_path) if is_run else load_model(source_path)
    growable = model_scales(source) == model_scales(net)
    by_name = {layer.name: layer for layer in walk_layers(source)}
    report = InitReport([], [], {})
    for layer in walk_layers(net):
        if not layer.weights:
            continue
        other = by_name.get(layer.name)
        if other is None:
            report.skipped[layer.name] = "not in the source model"
            continue
        mine, theirs = layer.get_weights(), other.get_weights()
        if [w.shape for w in mine] == [w.shape for w in theirs]:
            layer.set_weights(theirs)
            report.copied.append(layer.name)
        elif growable and all(_fits_inside(t.shape, m.shape) for t, m in zip(theirs, mine)):
            layer.set_weights([_embedded(t, m) for t, m in zip(theirs, mine)])
            report.grown.append(layer.name)
        else:
            report.skipped[layer.name] = (f"shapes differ ({_shapes(w.shape for w in theirs)} in the source, "
                                          f"{_shapes(w.shape for w in mine)} here)")
    if not report.copied and not report.grown:
        raise ConfigError(f"--init-from {source_path}: no layer of it matches this {net.name} by name and shape, "
                          f"so nothing would be copied (is it another architecture?)")
    if report.grown and not report.skipped:
        _check_same_function(source, net, source_path)
    return report


def _shapes(shapes):
    return ", ".join("×".join(map(str, shape)) for shape in shapes)


def _fits_inside(small, big):
    """A weight of shape ``small`` can be embedded in ``big``: same rank and kernel size, no fewer channels."""
    return (len(small) == len(big) and tuple(small[:-2]) == tuple(big[:-2])
            and all(s <= b for s, b in zip(small[-2:], big[-2:])))


def _embedded(theirs, mine):
    """``theirs`` in the leading channels of ``mine``; for a kernel (…, c_in, c_out) the old
    outputs read nothing from the new inputs, so the old channels compute what they did."""
    out = mine.copy()
    out[tuple(slice(0, n) for n in theirs.shape)] = theirs
    if theirs.ndim >= 2:
        out[..., theirs.shape[-2]:, :theirs.shape[-1]] = 0
    return out


def _check_same_function(source, net, source_path):
    probe = np.random.default_rng(0).uniform(0, 255, (1, 12, 12, 3)).astype(np.float32)
    before = np.concatenate([np.ravel(y) for y in keras.tree.flatten(source(probe))])
    after = np.concatenate([np.ravel(y) for y in keras.tree.flatten(net(probe))])
    gap = float(np.max(np.abs(before - after)))
    if gap > 0.01:
        raise ConfigError(f"--init-from {source_path}: grown into {net.name}, its output differs from the "
                          f"source's by {gap:.3g} grey levels (is it another architecture?)")
