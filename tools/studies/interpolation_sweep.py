"""Choose a network-interpolation weight on held-out training images: PSNR per protocol, NIQE, checkerboard.

    python tools/studies/interpolation_sweep.py saved_models/runs/wdsr_b_x4_gan_stage2/last.keras wdsr_b_x4_real \\
        --weights 0.4 0.5 0.6 0.7 0.8 1 --dataset ../shared/data/train --hold-out 20 \\
        --protocols photo jpeg:75 classical --margin 0.3 --json sweep.json --plot sweep.png

For each weight, `tfsr.models.interpolation.interpolate` blends GAN and L1
model and every held-out image is upscaled under each protocol (one fixed
draw per image, seed 0): Y-PSNR (shave 4) against bicubic's, and, on the
first protocol's outputs, NIQE and the checkerboard peak. The weight to ship
is the most perceptual one (lowest NIQE) whose PSNR is above bicubic's on
every protocol by ``--margin`` dB. Never run it on a report set (Kodak24).
"""
import argparse
import json
import sys

from tfsr import cli


def sweep(gan, l1, weights, sources, space="weights", log=print):
    """{weight: {protocol: {psnr, niqe, grid}}} plus bicubic's row under the key "bicubic".

    ``space="outputs"`` blends the two models' images instead of their weights (twice the compute):
    it tells whether an artifact of a blend comes from mixing the networks or from one of them.
    """
    from tfsr.data import bicubic_upscale
    from tfsr.evaluation import evaluate
    from tfsr.inference.predictors import upscaler
    from tfsr.models.interpolation import interpolate

    def score(upscale, label):
        row = {}
        for i, (protocol, source) in enumerate(sources.items()):
            metrics = ("psnr", "niqe", "grid") if i == 0 else ("psnr",)
            report = evaluate(source, upscale, metrics=metrics, progress=False)
            row[protocol] = {m: report.mean(m) for m in metrics}
        log(f"{label:>8}: " + "  ".join(f"{p} {r['psnr']:.3f}" for p, r in row.items())
            + f"  NIQE {next(iter(row.values()))['niqe']:.2f}  peak {next(iter(row.values()))['grid']:.1f} dB")
        return row

    scale = next(iter(sources.values())).scale
    results = {"bicubic": score(lambda lr: bicubic_upscale(lr, scale), "bicubic")}
    if space == "outputs":
        gan_upscale, l1_upscale = remembered(upscaler(gan, scale)), remembered(upscaler(l1, scale))
        def blend(weight):
            return blend_outputs(gan_upscale, l1_upscale, weight)
    else:
        def blend(weight):
            return upscaler(interpolate(gan, l1, weight), scale)
    for weight in weights:
        results[weight] = score(blend(weight), f"{weight:g}")
    return results


def remembered(upscale):
    """``upscale`` computing each distinct LR image once: an output sweep scores the same images at every weight."""
    images = {}

    def once(lr):
        key = (lr.shape, lr.tobytes())
        if key not in images:
            images[key] = upscale(lr)
        return images[key]
    return once


def blend_outputs(gan_upscale, l1_upscale, weight):
    """An upscaler whose image is ``weight * GAN's + (1 - weight) * L1's``, rounded to uint8."""
    import numpy as np

    from tfsr.color import as_uint8

    def upscale(lr):
        mix = weight * gan_upscale(lr).astype(np.float32) + (1 - weight) * l1_upscale(lr).astype(np.float32)
        return as_uint8(mix)
    return upscale


def choose(results, margin):
    """The lowest-NIQE weight whose PSNR beats bicubic's by ``margin`` on every protocol (None if none)."""
    bicubic = results["bicubic"]
    first = next(iter(bicubic))
    ok = [w for w, row in results.items() if w != "bicubic"
          and all(row[p]["psnr"] >= bicubic[p]["psnr"] + margin for p in bicubic)]
    return min(ok, key=lambda w: results[w][first]["niqe"]) if ok else None


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    weights = [w for w in results if w != "bicubic"]
    protocols = list(results["bicubic"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for p in protocols:
        gain = [results[w][p]["psnr"] - results["bicubic"][p]["psnr"] for w in weights]
        left.plot(weights, gain, "o-", label=p)
    left.axhline(0, color="grey", lw=0.8)
    left.set(xlabel="GAN weight", ylabel="Y-PSNR gain over bicubic (dB)", title="fidelity")
    left.legend()
    right.plot(weights, [results[w][protocols[0]]["niqe"] for w in weights], "o-", color="C3")
    right.axhline(results["bicubic"][protocols[0]]["niqe"], color="grey", lw=0.8, ls="--", label="bicubic")
    right.set(xlabel="GAN weight", ylabel=f"NIQE on {protocols[0]} (lower: more natural)", title="naturalness")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("gan", help="the GAN generator (weight 1)")
    p.add_argument("l1", help="the L1 model it was fine-tuned from (weight 0)")
    p.add_argument("--weights", type=float, nargs="+", default=[0, 0.25, 0.5, 0.75, 1], help="GAN weights to score")
    p.add_argument("--dataset", required=True, help="the training photos")
    p.add_argument("--hold-out", type=int, default=20, help="score the images a --hold-out N run validates on")
    p.add_argument("--protocols", nargs="+", default=["jpeg:75", "classical", "photo"],
                   help="degradations scored (the first also by NIQE and the checkerboard peak)")
    p.add_argument("--margin", type=float, default=0.1, help="dB above bicubic a chosen weight keeps everywhere")
    p.add_argument("--space", choices=["weights", "outputs"], default="weights",
                   help="blend the networks' weights (one model, what tfsr.interpolate ships) or their images")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--plot", help="write the two curves here (PNG)")
    args = p.parse_args(argv)
    from tfsr.data import resolve, split_held_out
    from tfsr.data.degradations import degradation
    from tfsr.models import for_scale, load_model

    gan, scale = for_scale(load_model(args.gan), path=args.gan)
    l1, _ = for_scale(load_model(args.l1), scale, path=args.l1)
    held_out = split_held_out(resolve(args.dataset, scale, split="train"), args.hold_out)[1]
    sources = {spec: held_out.degraded(degradation(spec), 0) for spec in args.protocols}
    results = sweep(gan, l1, args.weights, sources, args.space)
    chosen = choose(results, args.margin)
    print(f"chosen GAN weight: {chosen} (lowest {args.protocols[0]} NIQE with PSNR >= bicubic + {args.margin} dB on "
          f"{', '.join(args.protocols)})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gan": args.gan, "l1": args.l1, "space": args.space, "chosen": chosen, "margin": args.margin,
                       "results": {str(k): v for k, v in results.items()}}, f, indent=2)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    sys.exit(cli.run(main, sys.argv[1:]))
