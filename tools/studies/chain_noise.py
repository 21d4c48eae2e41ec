"""Pixel-level noise of real LR photos against what the training chains make: is a photo's noise in the chains?

    python tools/studies/chain_noise.py ../shared/data/real/RealSRSet --chains photo realesrgan \\
        realesrgan+final_noise_prob=0.3 --teacher-sets teach/x4plus teach/x4plus_noise

Noise is measured where an image is flattest: Immerkær's estimator (a 3×3
Laplacian-like filter, σ = √(π/2)/6 · mean |response|) over 16×16 blocks, the
10th-percentile block, on the luma and on the chroma (Cb, Cr combined), at the
LR's own pixels. White noise reads 5-15 % low (the flattest blocks are also
the noise's quietest), the same for a photo and a chain. For a chain, the HR
is flat (three colours), so every deviation of its LR is noise; the table
gives percentiles over 300 draws. A teacher set's LR crops (``--teacher-sets``)
are photos, whose flattest blocks also hold some texture: their percentiles
over the crops compare sets with each other and with the real photos.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.signal import convolve2d

LAPLACIAN = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], float)
YCC = np.array([[0.299, -0.168736, 0.5], [0.587, -0.331264, -0.418688], [0.114, 0.5, -0.081312]])
FLAT_COLOURS = ((128, 128, 128), (200, 150, 120), (60, 70, 50))


def flat_noise(plane, block=16, percentile=10):
    """σ of white noise that would give the plane's flattest blocks their Laplacian response."""
    response = np.abs(convolve2d(plane, LAPLACIAN, mode="valid")) * np.sqrt(np.pi / 2) / 6
    h, w = (response.shape[0] // block) * block, (response.shape[1] // block) * block
    blocks = response[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(np.percentile(blocks, percentile))


def noise(rgb):
    """(luma σ, chroma σ) of an RGB image."""
    y, cb, cr = np.moveaxis(np.asarray(rgb, float) @ YCC, -1, 0)
    return flat_noise(y), float(np.hypot(flat_noise(cb), flat_noise(cr)))


def chain_noise(spec, draws=300, size=256, scale=4):
    """(draws, 2) noise of a chain's LR of flat HR; ``spec`` is NAME or NAME+option=value."""
    from tfsr.data.degradations import degradation
    name, *options = spec.split("+")
    chain = degradation(name, {k: float(v) for k, v in (o.split("=") for o in options)} or None)
    rows = []
    for i in range(draws):
        hr = np.full((size, size, 3), FLAT_COLOURS[i % len(FLAT_COLOURS)], np.uint8)
        rows.append(noise(chain.apply(hr, hr[::scale, ::scale].astype(np.float32), (i, 11))))
    return np.array(rows)


def _percentiles(rows):
    return [" / ".join(f"{v:.1f}" for v in np.percentile(col, [50, 90, 99])) for col in np.asarray(rows).T]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="a folder of LR photos (PNG)")
    parser.add_argument("--chains", nargs="*", default=["photo", "realesrgan"],
                        help="training chains to measure, NAME or NAME+option=value")
    parser.add_argument("--teacher-sets", nargs="*", type=Path, default=[],
                        help="teacher sets (tfsr.teach) whose LR training crops to measure")
    parser.add_argument("--crops", type=int, default=1000, help="crops measured per teacher set, the first ones")
    args = parser.parse_args()
    print("| LR photo | luma σ | chroma σ |\n|---|---:|---:|")
    for path in sorted(args.photos.glob("*.png")):
        print(f"| {path.stem} | %.1f | %.1f |" % noise(Image.open(path).convert("RGB")))
    print("\n| chain (flat HR) or teacher set | luma σ: median / 90th / 99th pct | chroma σ: median / 90th / 99th pct |\n|---|---|---|")
    for spec in args.chains:
        cells = _percentiles(chain_noise(spec))
        print(f"| {spec} | {cells[0]} | {cells[1]} |")
    from tfsr.data.teacher_sets import crop_files, finished_crops
    for folder in args.teacher_sets:
        crops = [crop_files(folder, c["split"], c["name"])["lr"] for c in finished_crops(folder)
                 if c["split"] == "train"][:args.crops]
        cells = _percentiles([noise(Image.open(path).convert("RGB")) for path in crops])
        print(f"| teacher set {folder.name} ({len(crops)} LR crops) | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
