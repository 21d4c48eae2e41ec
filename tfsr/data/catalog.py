"""From a ``--dataset`` value to its source: bundled, DIV2K, benchmark sets, tfds and folders."""
from tfsr.data.div2k import div2k
from tfsr.data.sources import BENCHMARKS, TfdsSource, benchmark, image_folder, sample


def resolve(spec, scale, split="train", data_dir=None, degradation="bicubic", download=True):
    """A `PairedSet` from a ``--dataset`` value.

    ``sample``, ``div2k``, a benchmark name (``set5`` ...), or a folder path.
    ``split`` selects train/valid for ``sample`` and ``div2k``.
    """
    key = str(spec).lower()
    if key == "sample":
        return sample(scale, split)
    if key == "div2k":
        return div2k(scale, split, degradation, data_dir, download=download)
    if key in BENCHMARKS:
        return benchmark(key, scale, data_dir)
    if key.startswith("tfds:"):
        return TfdsSource(str(spec)[5:], "validation" if split == "valid" else split, scale, data_dir)
    return image_folder(spec, scale)
