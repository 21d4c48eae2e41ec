"""Where in JPEG's 8×8 block grid a model gains over bicubic: is the JPEG gain lost at the block edges?

    python tools/studies/jpeg_block_phase.py wdsr_b_x4_real --dataset ../shared/data/train --hold-out 20 \\
        --degradation jpeg:75

The LR image is JPEG-compressed on blocks of 8 LR pixels from its corner, so
each HR pixel has a phase: its LR pixel's position in its block, (y mod 8,
x mod 8). A convolutional model does not know that phase; if its JPEG gain
were lost where blocking is (the block edges, phase 0 or 7), a model told
the phase could win it back. The table is the Y-PSNR gain over bicubic
(pooled squared error, shave ``scale``) per phase, and the gain on edge and
inner pixels.
"""
import argparse
import json
import sys

import numpy as np

from tfsr import cli

BLOCK = 8


def phase_errors(sr, hr, scale, block=BLOCK):
    """(block, block) sums of squared Y error by LR phase, and the pixel counts (the PSNR's planes: shave ``scale``)."""
    from tfsr.metrics import scored_planes
    sr, hr = scored_planes(sr, hr, scale)
    error = sr - hr
    rows = ((np.arange(error.shape[0]) + scale) // scale) % block
    cols = ((np.arange(error.shape[1]) + scale) // scale) % block
    sums, counts = np.zeros((block, block)), np.zeros((block, block))
    np.add.at(sums, (rows[:, None], cols[None, :]), error ** 2)
    np.add.at(counts, (rows[:, None], cols[None, :]), 1)
    return sums, counts


def edge_mask(block=BLOCK):
    """The phases on a block's edge (first or last row or column)."""
    edge = np.zeros((block, block), bool)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    return edge


def phase_gain(model_sums, bicubic_sums):
    """The gain in dB per phase, and on the edge and inner phases: 10·log10 of bicubic's over the model's error."""
    edge = edge_mask(model_sums.shape[0])
    return {"by_phase": (10 * np.log10(bicubic_sums / model_sums)).round(3).tolist(),
            "edge": float(10 * np.log10(bicubic_sums[edge].sum() / model_sums[edge].sum())),
            "inner": float(10 * np.log10(bicubic_sums[~edge].sum() / model_sums[~edge].sum()))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a preset or .keras file")
    p.add_argument("--dataset", required=True, help="a folder of HR images (or HR/ + LR_bicubic/), or a set name")
    p.add_argument("--data-dir", help="root of the named sets")
    p.add_argument("--hold-out", type=int, metavar="N", help="score the N images a --hold-out N run keeps out")
    p.add_argument("--scale", type=int, default=4, help="upscaling factor")
    p.add_argument("--degradation", default="jpeg:75", help="the LR chain, one fixed draw per image")
    p.add_argument("--json", help="write the gains here")
    args = p.parse_args(argv)
    from tfsr.data import bicubic_upscale, resolve, split_held_out
    from tfsr.data.degradations import degradation
    from tfsr.inference.predictors import upscaler
    from tfsr.models import load_model

    source = resolve(args.dataset, args.scale, split="train" if args.hold_out else "valid", data_dir=args.data_dir)
    if args.hold_out:
        source = split_held_out(source, args.hold_out)[1]
    source = source.degraded(degradation(args.degradation))
    upscale = upscaler(load_model(args.model), args.scale, backend="function")
    model_sums, bicubic_sums = np.zeros((BLOCK, BLOCK)), np.zeros((BLOCK, BLOCK))
    for i in range(len(source)):
        lr, hr = source.load(i)
        model_sums += phase_errors(upscale(lr), hr, args.scale)[0]
        bicubic_sums += phase_errors(bicubic_upscale(lr, args.scale), hr, args.scale)[0]
    result = {"model": args.model, "input": source.describe_input(), "images": len(source),
              **phase_gain(model_sums, bicubic_sums)}
    print(f"{args.model} on {len(source)} images, {result['input']}: gain over bicubic by LR phase "
          f"(rows y mod {BLOCK}, columns x mod {BLOCK}), dB")
    for row in result["by_phase"]:
        print("  " + " ".join(f"{v:+5.2f}" for v in row))
    print(f"block edges {result['edge']:+.3f} dB, block insides {result['inner']:+.3f} dB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    sys.exit(cli.run(main, sys.argv[1:]))
