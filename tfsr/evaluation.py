"""Scoring an upscaler on a dataset: per-image and mean PSNR/SSIM, JSON, table."""
import json
from dataclasses import dataclass, field

import numpy as np

from tfsr.data.images import atomic_output, write_image
from tfsr.metrics import BENCHMARK, psnr, ssim
from tfsr.progress import progress_bar


@dataclass
class Report:
    dataset: str
    scale: int
    convention: str
    images: list = field(default_factory=list)  # {"name", "psnr", "ssim"}
    input: str = "LR as loaded (bicubic)"  # what the LR images were: the degradation chain and seed

    @property
    def psnr(self):
        return float(np.mean([i["psnr"] for i in self.images]))

    @property
    def ssim(self):
        return float(np.mean([i["ssim"] for i in self.images]))

    def to_dict(self):
        return {"dataset": self.dataset, "scale": self.scale, "convention": self.convention, "input": self.input,
                "psnr": self.psnr, "ssim": self.ssim, "images": self.images}

    def save_json(self, path):
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))

    def table(self):
        width = max([len(i["name"]) for i in self.images] + [7])
        lines = [f"{self.dataset} x{self.scale}   ({self.convention}; {self.input})",
                 f"{'image':<{width}}  {'PSNR dB':>8}  {'SSIM':>6}"]
        lines += [f"{i['name']:<{width}}  {i['psnr']:8.2f}  {i['ssim']:6.4f}" for i in self.images]
        lines.append(f"{'mean':<{width}}  {self.psnr:8.2f}  {self.ssim:6.4f}")
        return "\n".join(lines)


def evaluate(source, upscale, convention=BENCHMARK, save_dir=None, progress=True, on_result=None, lr_dir=None):
    """Upscale every LR image of ``source`` and score it against its HR image.

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
        report.images.append({"name": pair.name, "psnr": psnr(sr, hr, scale, convention),
                              "ssim": ssim(sr, hr, scale, convention)})
        sr = np.clip(np.floor(np.asarray(sr, np.float64) + 0.5), 0, 255).astype(np.uint8)
        if save_dir is not None:
            write_image(f"{save_dir}/{pair.name}.png", sr)
        if on_result:
            on_result(pair.name, lr, sr, hr)
    return report

