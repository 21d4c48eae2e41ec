"""python -m tfsr.tune: width/depth sweeps with keras-tuner.

    python -m tfsr.tune --arch wdsr_b --scale 4 --tuner random --max-trials 12 --steps-per-trial 2000 \\
        --max-params 1.2e6 --dataset ../shared/data/train --eval-dataset set5 --data-dir ../shared/data/benchmark

Running the same command again continues the search where it stopped.
Distributed: start the same command on several machines with
KERASTUNER_TUNER_ID=chief (one process, runs the oracle) or tuner0, tuner1, ...,
and KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT pointing at the chief.
"""
import os
import shutil
from pathlib import Path

from tfsr import cli
from tfsr.train import add_data_arguments, read_config_file


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.tune"))
    p.add_argument("--arch", required=True, choices=["edsr", "wdsr_a", "wdsr_b", "srvgg"], help="family to sweep")
    p.add_argument("--scale", type=int, default=4, choices=[2, 3, 4, 8], help="upscaling factor")
    p.add_argument("--tuner", default="random", choices=["random", "hyperband", "bayesian"], help="search strategy")
    p.add_argument("--max-trials", type=int, default=10, help="trials to run (random, bayesian)")
    p.add_argument("--steps-per-trial", type=int, default=1000,
                   help="training steps per trial (hyperband: for a trial that runs its full budget)")
    p.add_argument("--hyperband-epochs", type=int, default=3,
                   help="hyperband: budget slices per full trial (steps-per-trial / this per slice)")
    p.add_argument("--max-params", type=float, help="reject trials with more trainable parameters, before training")
    p.add_argument("--max-flops", type=float, help="reject trials with more FLOPs per LR pixel, before training")
    p.add_argument("--space", metavar="FILE",
                   help="YAML/JSON overriding the search space, e.g. 'blocks: [8, 16]' or "
                        "'lr: {min: 1e-4, max: 1e-3, sampling: log}'")
    p.add_argument("--output", help="study folder (default: runs/tune_<arch>_x<scale>)")
    add_data_arguments(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.check_inputs(datasets=[args.dataset, args.eval_dataset])
    from tfsr.data import bicubic_upscale
    from tfsr.data.images import atomic_output
    from tfsr.evaluation import evaluate
    from tfsr.training import TrainConfig, training_data, validation_data
    from tfsr.training.tuning import collect_results, make_tuner, search_space, write_reports

    output = Path(args.output or f"runs/tune_{args.arch}_x{args.scale}")
    try:
        space = search_space(args.arch, read_config_file(args.space) if args.space else None)
    except ValueError as e:
        raise cli.UserError(str(e)) from None
    config = TrainConfig(arch=args.arch, scale=args.scale, dataset=args.dataset, data_dir=args.data_dir,
                         degradation=args.degradation, degradation_options=args.degradation_options,
                         sharpen_target=args.sharpen_target, eval_degradation=args.eval_degradation,
                         batch_size=args.batch_size, patch_size=args.patch_size,
                         loss=args.loss, seed=args.seed, eval_dataset=args.eval_dataset, hold_out=args.hold_out,
                         eval_images=args.eval_images, eval_crop=args.eval_crop,
                         cache=None if args.cache == "none" else args.cache,
                         patches_per_image=args.patches_per_image, scale_augment=args.scale_augment,
                         skip_bad_images=args.skip_bad_images,
                         jit_compile=args.jit_compile).resolved()
    try:
        config.validate()
    except ValueError as e:
        raise cli.UserError(str(e)) from None
    _, train_data = training_data(config, seed=args.seed)  # first: bad data stops before the tuner's folder
    val_source, val_data = validation_data(config)
    tuner = make_tuner(args.arch, args.scale, args.tuner, space, output, args.max_trials, args.max_params,
                       args.max_flops, args.seed, args.hyperband_epochs)
    per_slice = args.steps_per_trial // (args.hyperband_epochs if args.tuner == "hyperband" else 1)
    tuner.search(train_data, val_data, config, per_slice)  # a distributed chief serves the oracle here
    role = os.environ.get("KERASTUNER_TUNER_ID", "chief") if "KERASTUNER_ORACLE_IP" in os.environ else "chief"
    if "chief" not in role:
        print(f"tuner {role}: no trials left")
        return
    results, rejected = collect_results(tuner)
    bicubic = evaluate(val_source, lambda lr: bicubic_upscale(lr, args.scale), progress=False).psnr
    print(write_reports(output, results, rejected, args.scale, bicubic))
    if results:
        with atomic_output(output / "best.keras") as tmp:
            shutil.copyfile(Path(tuner.get_trial_dir(results[0]["trial"])) / "model.keras", tmp)
        print(f"\nbest: trial {results[0]['trial']} {results[0]['val_psnr']:.3f} dB -> {output / 'best.keras'}")
    print(f"results: {output / 'results.csv'}, {output / 'results.md'}, {output / 'psnr_vs_params.png'}")

console = cli.entry_point(main)  # the tfsr-tune console script: exactly `python -m tfsr.tune`

if __name__ == "__main__":
    raise SystemExit(console())
