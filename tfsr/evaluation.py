"""Scoring an upscaler on a dataset: per-image and mean PSNR/SSIM (and NIQE, checkerboard), JSON, table.

Full-reference metrics (``psnr``, ``ssim``) need the HR image; the
no-reference ones (``niqe``: lower is more natural; ``grid``: the
pixel-shuffle checkerboard in dB, `tfsr.spectrum`) score the SR image
alone, so they also rate photos that have no HR (`evaluate_inputs`).
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

from tfsr.color import as_uint8
from tfsr.data.images import atomic_output, read_image, write_image
from tfsr.metrics import BENCHMARK, psnr, ssim
from tfsr.no_reference import no_reference_scores, scored_mean
from tfsr.progress import progress_bar

FULL_REFERENCE = ("psnr", "ssim")
NO_REFERENCE = ("niqe", "grid")
METRICS = FULL_REFERENCE + NO_REFERENCE
_FORMATS = {"psnr": ("PSNR dB", "8.2f"), "ssim": ("SSIM", "6.4f"), "niqe": ("NIQE", "6.3f"),
            "grid": ("grid dB", "7.1f")}


@dataclass
class Report:
    dataset: str
    scale: int
    convention: str
    images: list = field(default_factory=list)  # {"name", and each metric: "psnr", "ssim", "niqe", "grid"}
    input: str = "LR as loaded (bicubic)"  # what the LR images were: the degradation chain and seed

    @property
    def metrics(self):
        return [m for m in METRICS if self.images and m in self.images[0]]

    def mean(self, metric):
        """The mean over the images that have the metric (NaN: too small for it)."""
        return scored_mean(i[metric] for i in self.images)

    @property
    def psnr(self):
        return self.mean("psnr")

    @property
    def ssim(self):
        return self.mean("ssim")

    def to_dict(self):
        return {"dataset": self.dataset, "scale": self.scale, "convention": self.convention, "input": self.input,
                **{m: self.mean(m) for m in self.metrics}, "images": self.images}

    def save_json(self, path):
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))

    def table(self):
        width = max([len(i["name"]) for i in self.images] + [7])
        columns = [(m, *_FORMATS[m]) for m in self.metrics]
        lines = [f"{self.dataset} x{self.scale}   ({self.convention}; {self.input})",
                 f"{'image':<{width}}" + "".join(f"  {title:>{len(format(0, fmt))}}" for _, title, fmt in columns)]
        for row in [*self.images, {"name": "mean", **{m: self.mean(m) for m in self.metrics}}]:
            lines.append(f"{row['name']:<{width}}" + "".join(f"  {row[m]:{fmt}}" for m, _, fmt in columns))
        return "\n".join(lines)


def evaluate_inputs(paths, upscale, scale, metrics=NO_REFERENCE, save_dir=None, progress=True, on_result=None):
    """Upscale image files that have no HR (real photos) and score the SR with no-reference ``metrics``."""
    report = Report(Path(paths[0]).parent.name if paths else "inputs", scale, "no reference",
                    input="the images as they are (no HR)")
    for path in progress_bar(paths, desc=f"inputs x{scale}", unit="img", disable=not progress):
        lr = read_image(path)
        sr = as_uint8(upscale(lr))
        report.images.append({"name": Path(path).stem, **no_reference_scores(sr, scale, metrics)})
        if save_dir is not None:
            write_image(f"{save_dir}/{Path(path).stem}.png", sr)
        if on_result:
            on_result(Path(path).stem, lr, sr, None)
    return report


def evaluate(source, upscale, convention=BENCHMARK, save_dir=None, progress=True, on_result=None, lr_dir=None,
             metrics=FULL_REFERENCE):
    """Upscale every LR image of ``source`` and score it against its HR image (``metrics``: see `METRICS`).

    Args:
        source: a `PairedSet` (its LR degraded if it has a degradation).
        upscale: function from an (h, w, 3) uint8 LR image to the SR image.
        save_dir: if given, SR images are written there as ``<name>.png``.
        on_result: called as ``on_result(name, lr, sr, hr)`` after each image
            (``sr`` rounded to uint8), e.g. to build a before/after page.
        lr_dir: if given, the LR images are written there as
            ``<name>x<scale>.png`` (the benchmarks' layout), so other tools
            can score on the same degraded inputs.
    """
    scale = source.scale
    report = Report(source.name, scale, convention.describe(scale), input=source.describe_input())
    for i in progress_bar(range(len(source)), desc=f"{source.name} x{scale}", unit="img", disable=not progress):
        pair = source.pairs[i]
        lr, hr = source.load(i, keep_gray=True)
        if lr_dir is not None:
            write_image(f"{lr_dir}/{pair.name}x{scale}.png", lr)
        sr = upscale(lr)
        scores = {"name": pair.name}
        if "psnr" in metrics:
            scores["psnr"] = psnr(sr, hr, scale, convention)
        if "ssim" in metrics:
            scores["ssim"] = ssim(sr, hr, scale, convention)
        sr = as_uint8(sr)
        report.images.append({**scores, **no_reference_scores(sr, scale, metrics)})
        if save_dir is not None:
            write_image(f"{save_dir}/{pair.name}.png", sr)
        if on_result:
            on_result(pair.name, lr, sr, hr)
    return report

