"""ncnn's ``.param`` files read as text: the layers in order, their blobs and options.

A ``.param`` file is the magic line ``7767517``, a line ``layers blobs``, then
one layer a line: ``Type name n_inputs n_outputs inputs... outputs...
key=value...``. The importer of Real-ESRGAN's compact nets and the ncnn
runner both read it here; the weights (``.bin``) are the importer's concern.
"""
from dataclasses import dataclass
from pathlib import Path

from tfsr.errors import ModelError

MAGIC = "7767517"


@dataclass(frozen=True)
class Layer:
    """One line of a ``.param`` file; ``options`` maps ncnn's numbered keys to their text."""

    kind: str
    name: str
    inputs: tuple
    outputs: tuple
    options: dict


def read_param(path):
    """The layers of an ncnn ``.param`` file; a one-line `ModelError` if it is not one."""
    try:
        lines = Path(path).read_text().splitlines()
    except UnicodeDecodeError:
        lines = []
    if not lines or lines[0].strip() != MAGIC:
        raise ModelError(f"{path}: not an ncnn .param file (no {MAGIC} magic on its first line)")
    layers = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if len(fields) < 4:
            continue
        try:
            n_in, n_out = int(fields[2]), int(fields[3])
            blobs = fields[4:4 + n_in + n_out]
            options = dict(field.split("=", 1) for field in fields[4 + n_in + n_out:])
        except ValueError:
            raise ModelError(f"{path}: line {number} is not an ncnn layer: {line.strip()[:60]}") from None
        layers.append(Layer(fields[0], fields[1], tuple(blobs[:n_in]), tuple(blobs[n_in:]), options))
    return layers
