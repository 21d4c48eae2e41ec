"""Plot validation PSNR and SSIM against training step for one or more runs.

    python tools/plot_training.py runs/edsr_baseline_x4 runs/wdsr_b_x4 --bicubic 28.43 --bicubic-ssim 0.8111 --output docs/training_psnr.png
"""
import csv
import sys
from pathlib import Path

from tfsr import cli


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/plot_training.py")
    p.add_argument("runs", nargs="+", help="run folders (with metrics.csv and config.json)")
    p.add_argument("--bicubic", type=float, help="bicubic PSNR on the same validation set (drawn as a line)")
    p.add_argument("--bicubic-ssim", type=float, help="bicubic SSIM on the same validation set (drawn as a line)")
    p.add_argument("--target", type=float, help="a target PSNR (drawn as a line)")
    p.add_argument("--from-step", type=int, default=0,
                   help="leave out validations before this step (e.g. a warm-up far below the rest)")
    p.add_argument("--title", default="validation (Set5 x4, Y channel, shave 4)", help="plot title")
    p.add_argument("--output", required=True, help="PNG to write")
    args = p.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfsr.data.images import atomic_output

    fig, (ax_psnr, ax_ssim) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    for run in map(Path, args.runs):
        with open(run / "metrics.csv") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) >= args.from_step]
        steps = [int(r["step"]) for r in rows]
        ax_psnr.plot(steps, [float(r["val_psnr"]) for r in rows], marker=".", label=run.name)
        ax_ssim.plot(steps, [float(r["val_ssim"]) for r in rows], marker=".", label=run.name)
    if args.bicubic is not None:
        ax_psnr.axhline(args.bicubic, color="gray", linestyle="--", linewidth=1, label=f"bicubic {args.bicubic:.2f}")
    if args.target is not None:
        ax_psnr.axhline(args.target, color="tab:red", linestyle=":", linewidth=1, label=f"target {args.target:.2f}")
    if args.bicubic_ssim is not None:
        ax_ssim.axhline(args.bicubic_ssim, color="gray", linestyle="--", linewidth=1,
                        label=f"bicubic {args.bicubic_ssim:.4f}")
    for ax, name in ((ax_psnr, "PSNR (dB)"), (ax_ssim, "SSIM")):
        ax.set_xlabel("training step (batch 16, LR patch 48)")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(args.title)
    fig.tight_layout()
    with atomic_output(args.output) as tmp:
        fig.savefig(tmp, format="png")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
