"""Students of a teacher set scored on its held-out crops: how close to the teacher, how close to the photo.

    python tools/studies/student_scores.py teach/x4plus wdsr_b_x4_real runs/student/best.keras --json s.json

For each model and the teacher itself: Y-PSNR (shave 4) against the teacher's
images and against the photos, and `tfsr.detail`'s texture and flat scores
against the photos (0: as much detail as the photo where it is textured;
above 0 where it is flat: junk). The crops are the set's ``valid`` split: the
photos it held out, which no student trained on; the selection set for a
student's recipe. ``--split train`` scores the crops they trained on instead:
whether a student fits them at all.
"""
import json
import sys

import numpy as np

from tfsr import cli


def scores(sr, teacher, hr):
    from tfsr.detail import detail_scores
    from tfsr.metrics import psnr
    return {"psnr_teacher": psnr(sr, teacher, 4), "psnr_photo": psnr(sr, hr, 4), **detail_scores(sr, hr)}


def _mean(values):
    """The mean of the finite values; None if there are none (the teacher's PSNR to itself)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], "python tools/studies/student_scores.py")
    p.add_argument("teacher_set", help="a teacher set folder (tfsr.teach)")
    p.add_argument("models", nargs="*", help="presets or model files (x4); none: bicubic and the teacher only")
    p.add_argument("--split", choices=["valid", "train"], default="valid",
                   help="the held-out crops (valid), or the crops the students trained on, to see how well they fit")
    p.add_argument("--count", type=int, help="score only the split's first N crops")
    p.add_argument("--json", help="write the scores here")
    args = p.parse_args(argv)
    from tfsr.data.images import read_image
    from tfsr.data.teacher_sets import crop_files, finished_crops
    from tfsr.inference import load
    from tfsr.progress import progress_bar
    crops = [c["name"] for c in finished_crops(args.teacher_set) if c["split"] == args.split][:args.count]
    if not crops:
        raise cli.UserError(f"{args.teacher_set}: no {args.split} crops")
    upscalers = {m: load(m, 4, precision="float32", tile=None) for m in args.models}
    rows = {name: [] for name in ["bicubic", "teacher", *args.models]}
    from tfsr.data import bicubic_upscale
    for name in progress_bar(crops, desc=f"{args.split} crops", unit="crop"):
        files = crop_files(args.teacher_set, args.split, name)
        lr, teacher, hr = (read_image(files[k]) for k in ("lr", "teacher", "hr"))
        rows["bicubic"].append(scores(bicubic_upscale(lr, 4), teacher, hr))
        rows["teacher"].append(scores(teacher, teacher, hr))
        for model, upscale in upscalers.items():
            rows[model].append(scores(upscale(lr), teacher, hr))
    means = {name: {k: _mean([r[k] for r in values]) for k in values[0]} for name, values in rows.items()}
    print(f"{len(crops)} {'held-out' if args.split == 'valid' else 'training'} crops of {args.teacher_set}")
    print(f"{'':40s} {'PSNR teacher':>12s} {'PSNR photo':>10s} {'texture':>8s} {'flat':>7s}")
    for name, m in means.items():
        teacher = "–" if m["psnr_teacher"] is None else f"{m['psnr_teacher']:.2f}"
        print(f"{name[-40:]:40s} {teacher:>12s} {m['psnr_photo']:10.2f} {m['texture']:+8.2f} {m['flat']:+7.2f}")
    if args.json:
        from tfsr.data.images import atomic_output
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps({"crops": len(crops), "means": means}, indent=2))


if __name__ == "__main__":
    sys.exit(cli.entry_point(main)())
