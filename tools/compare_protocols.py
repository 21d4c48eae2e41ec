"""Models against bicubic on clean and degraded inputs: a Markdown table of PSNR and gain over bicubic.

    python tools/compare_protocols.py --scale 4 --models wdsr_b_x4 wdsr_b_x4_real \\
        --protocols bicubic jpeg:75 classical photo --datasets set5 set14 ../shared/data/benchmark/Kodak24 \\
        --data-dir ../shared/data/benchmark --json docs/real_photos/x4.json --markdown docs/real_photos/x4.md

Each protocol is an evaluation degradation of `tfsr.data.degradations`
(one fixed draw per image, seed 0); the bicubic baseline upscales the same
degraded LR. Y-PSNR, shave = scale (the benchmarks' convention).
"""
import json
import sys
from pathlib import Path

from tfsr import cli


def markdown(scores, names, scale):
    """One table per dataset: a row per protocol, PSNR and (gain over bicubic) per model."""
    lines = []
    for dataset, by_protocol in scores.items():
        lines += [f"| {dataset} x{scale} | " + " | ".join(f"`{n}`" if n != "bicubic" else n for n in names) + " |",
                  "|---|" + "---:|" * len(names)]
        for protocol, by_model in by_protocol.items():
            base = by_model["bicubic"]["psnr"]
            cells = [f"{base:.2f}"] + [f"{by_model[n]['psnr']:.2f} ({by_model[n]['psnr'] - base:+.2f})"
                                       for n in names if n != "bicubic"]
            lines.append(f"| {'clean' if protocol == 'bicubic' else protocol} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], "python tools/compare_protocols.py")
    p.add_argument("--scale", type=int, required=True, help="upscaling factor of every model")
    p.add_argument("--models", nargs="+", required=True, help="presets or model files")
    p.add_argument("--protocols", nargs="+", default=["bicubic", "jpeg:75", "classical"],
                   help="degradations of the LR images (bicubic: the sets' own LR)")
    p.add_argument("--datasets", nargs="+", default=["set14"],
                   help="benchmark sets under --data-dir, or folders of HR photos (e.g. Kodak24)")
    p.add_argument("--data-dir", help="root of the benchmark sets")
    p.add_argument("--seed", type=int, default=0, help="degradation seed")
    p.add_argument("--json", help="write every score here")
    p.add_argument("--markdown", help="write the tables here (what README and docs/real_photos show)")
    args = p.parse_args(argv)

    from tfsr.data import bicubic_upscale, degradation, resolve
    from tfsr.data.images import atomic_output
    from tfsr.evaluation import evaluate
    from tfsr.inference import load

    upscalers = {spec: load(spec, args.scale, precision="float32", tile=None) for spec in args.models}
    upscalers = {"bicubic": lambda lr: bicubic_upscale(lr, args.scale), **upscalers}
    scores = {}
    for dataset in args.datasets:
        for protocol in args.protocols:
            source = resolve(dataset, args.scale, split="valid", data_dir=args.data_dir)
            source = source.degraded(degradation(protocol), args.seed)
            for name, upscale in upscalers.items():
                report = evaluate(source, upscale, progress=False)
                scores.setdefault(Path(dataset).name, {}).setdefault(protocol, {})[name] = {
                    "psnr": report.psnr, "ssim": report.ssim, "input": report.input}
                print(f"{dataset} x{args.scale} {protocol:<12} {name:<28} {report.psnr:.2f} dB / {report.ssim:.4f}",
                      flush=True)
    tables = markdown(scores, list(upscalers), args.scale)
    print("\n" + tables)
    if args.markdown:
        with atomic_output(args.markdown) as tmp:
            tmp.write_text(tables)
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "scores": scores}, indent=2))


if __name__ == "__main__":
    sys.exit(cli.run(main))
