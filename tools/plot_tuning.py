"""Plot validation PSNR against parameters for several `tfsr.tune` output folders in one chart.

    python tools/plot_tuning.py tune/edsr tune/wdsr_a tune/wdsr_b --bicubic 28.43 --output docs/tuning/psnr_vs_params.png
"""
import csv
from pathlib import Path

from tfsr import cli
from tfsr.training.tuning import plot_psnr_vs_params


def read_results(folder):
    """The rows of a sweep's ``results.csv`` with numbers parsed."""
    with open(Path(folder) / "results.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["params"] = int(row["params"])
        row["val_psnr"] = float(row["val_psnr"])
    return rows


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/plot_tuning.py")
    p.add_argument("sweeps", nargs="+", help="output folders of python -m tfsr.tune (with results.csv)")
    p.add_argument("--bicubic", type=float, help="bicubic PSNR on the same validation set (drawn as a line)")
    p.add_argument("--output", required=True, help="PNG to write")
    args = p.parse_args()
    results = [row for folder in args.sweeps for row in read_results(folder)]
    plot_psnr_vs_params(args.output, results, args.bicubic)
    print(f"{len(results)} trials from {len(args.sweeps)} sweeps -> {args.output}")


if __name__ == "__main__":
    main()
