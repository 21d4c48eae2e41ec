"""PyTorch reference training of WDSR-B and EDSR, for step-for-step parity with tfsr.train.

    python tools/torch_train.py --arch wdsr_b --scale 4 --dataset ../shared/data/train --skip-bad-images \
        --eval-dataset set5 --data-dir ../shared/data/benchmark --steps 1000 --seed 0 --output runs/torch_wdsr_b

The recipe is the official code's: the networks of tools/torch_reference.py
with PyTorch's default initialisation (``weight_norm`` g = ‖v‖), Adam
(0.9, 0.999, 1e-8), L1 loss, batch 16, LR patch 48, random flips and
transposes. The LR images are tfsr's (MATLAB bicubic), and validation uses
tfsr's metrics, so the numbers compare directly with a tfsr run's
metrics.csv. Two switches isolate the differences from tfsr:

* ``--pipeline tfsr`` takes the batches from tfsr's own tf.data pipeline
  (the same patches as ``tfsr.train --seed S``) instead of this script's;
* ``--init-from MODEL.keras`` starts from a tfsr model's weights instead of
  PyTorch's initialisation.

Needs ``torch`` (a test-only extra, never a dependency of tfsr).
"""
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import torch_reference

import tfsr  # noqa: F401  (registers the layers)
from tfsr import cli, progress


def reference_batches(source, batch_size, patch_size, seed):
    """Endless (lr, hr) NCHW float batches: an epoch visits every image once, one random patch each."""
    rng = np.random.default_rng(seed)
    images = [source.load(i) for i in range(len(source))]
    s = source.scale
    while True:
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            lrs, hrs = [], []
            for i in order[start:start + batch_size]:
                lr, hr = images[i]
                y = rng.integers(0, lr.shape[0] - patch_size + 1)
                x = rng.integers(0, lr.shape[1] - patch_size + 1)
                lr = lr[y:y + patch_size, x:x + patch_size]
                hr = hr[y * s:(y + patch_size) * s, x * s:(x + patch_size) * s]
                if rng.random() < 0.5:
                    lr, hr = lr[:, ::-1], hr[:, ::-1]
                if rng.random() < 0.5:
                    lr, hr = lr[::-1], hr[::-1]
                if rng.random() < 0.5:
                    lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
                lrs.append(lr)
                hrs.append(hr)
            yield _nchw(np.stack(lrs)), _nchw(np.stack(hrs))


def tfsr_batches(source, batch_size, patch_size, seed):
    """The batches ``tfsr.train --seed seed`` trains on (same pipeline, same seed)."""
    from tfsr.data import training_dataset
    for lr, hr in training_dataset(source, batch_size, patch_size, seed=seed + 0).as_numpy_iterator():
        yield _nchw(lr), _nchw(hr)


def _nchw(batch):
    return torch.from_numpy(np.ascontiguousarray(np.transpose(batch, (0, 3, 1, 2)), np.float32))


def build(arch, scale):
    if arch == "wdsr_b":
        return torch_reference.WDSRB(scale)
    if arch == "edsr_baseline":
        return torch_reference.EDSR(scale)
    raise SystemExit(f"error: no PyTorch reference for {arch} (wdsr_b, edsr_baseline)")


def load_tfsr_weights(module, model, arch):
    """Copy a tfsr model's weights into the PyTorch network (inverse of tfsr's importers)."""
    from tfsr.importers.common import shuffle_permutation
    pairs = torch_reference.layer_pairs(module, arch)
    for name, (conv, shuffle) in pairs.items():
        layer = model.get_layer(name)
        weights = {w.path.split("/")[-1]: w.numpy() for w in layer.weights}
        kernel, bias = weights["kernel"], weights["bias"]
        if shuffle:
            order = np.empty(kernel.shape[-1], int)
            order[shuffle_permutation(kernel.shape[-1], shuffle)] = np.arange(kernel.shape[-1])
            kernel, bias = kernel[..., order], bias[order]
            if "g" in weights:
                weights["g"] = weights["g"][order]
        oihw = torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1))))
        with torch.no_grad():
            conv.bias.copy_(torch.from_numpy(bias))
            if "g" in weights:
                conv.parametrizations.weight.original0.copy_(torch.from_numpy(weights["g"]).view(-1, 1, 1, 1))
                conv.parametrizations.weight.original1.copy_(oihw)
            else:
                conv.weight.copy_(oihw)


def torch_step(module, optimizer, lr_batch, hr_batch):
    module.train()
    optimizer.zero_grad()
    loss = (module(lr_batch) - hr_batch).abs().mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def lockstep(args, module, optimizer, train, val):
    """tfsr and PyTorch from the same weights on the same batches: per-step losses and final outputs."""
    import keras

    from tfsr.data import training_dataset
    from tfsr.models import build as build_tfsr
    from tfsr.training import TrainConfig, make_loss, make_optimizer
    from tfsr.training.trainers import Trainer
    keras.utils.set_random_seed(args.seed)
    net = build_tfsr(args.arch, args.scale, conv_init=args.conv_init)
    load_tfsr_weights(module, net, args.arch)
    config = TrainConfig(arch=args.arch, lr=args.lr).resolved()
    trainer = Trainer(net)
    trainer.compile(make_optimizer(config), make_loss("l1"))
    data = training_dataset(train, args.batch_size, args.patch_size, seed=args.seed).as_numpy_iterator()
    lr_image = val.load(0)[0][None].astype(np.float32)
    print(f"{'step':>5} {'tfsr loss':>10} {'torch loss':>10} {'|Δ|':>8}")
    for step in range(1, args.lockstep + 1):
        lr_batch, hr_batch = next(data)
        tf_loss = float(trainer.train_on_batch(lr_batch, hr_batch))
        torch_loss = torch_step(module, optimizer, _nchw(lr_batch), _nchw(hr_batch))
        print(f"{step:5d} {tf_loss:10.5f} {torch_loss:10.5f} {abs(tf_loss - torch_loss):8.5f}")
    with torch.no_grad():
        theirs = np.transpose(module.eval()(_nchw(lr_image))[0].numpy(), (1, 2, 0))
    ours = net(lr_image).numpy()[0]
    print(f"after {args.lockstep} steps, {val.pairs[0].name}: max |SR_tfsr - SR_torch| = "
          f"{np.abs(ours - theirs).max():.4f} grey levels, mean {np.abs(ours - theirs).mean():.5f}")


def validate(module, source):
    from tfsr.evaluation import evaluate

    def upscale(lr):
        with torch.no_grad():
            sr = module(_nchw(lr[None].astype(np.float32)))
        return np.transpose(sr[0].numpy(), (1, 2, 0))

    return evaluate(source, upscale, progress=False)


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/torch_train.py")
    p.add_argument("--arch", default="wdsr_b", choices=["wdsr_b", "edsr_baseline"], help="architecture")
    p.add_argument("--scale", type=int, default=4, help="upscaling factor")
    p.add_argument("--dataset", required=True, help="training images (as tfsr.train --dataset)")
    p.add_argument("--data-dir", help="root of the benchmark sets")
    p.add_argument("--eval-dataset", default="set5", help="validation set (as tfsr.train --eval-dataset)")
    p.add_argument("--skip-bad-images", action="store_true", help="drop images smaller than a patch")
    p.add_argument("--steps", type=int, default=1000, help="training steps")
    p.add_argument("--lr", type=float, help="learning rate (default: 1e-3 WDSR, 1e-4 EDSR)")
    p.add_argument("--batch-size", type=int, default=16, help="patches per batch")
    p.add_argument("--patch-size", type=int, default=48, help="LR patch side")
    p.add_argument("--eval-every", type=int, default=100, help="validate every N steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the patches")
    p.add_argument("--pipeline", default="reference", choices=["reference", "tfsr"],
                   help="reference: this script's sampler; tfsr: tfsr's tf.data batches for --seed")
    p.add_argument("--init-from", metavar="MODEL", help="start from this tfsr .keras model's weights")
    p.add_argument("--conv-init", default="torch", choices=["torch", "glorot"],
                   help="with --lockstep: tfsr's initialisation, copied into the PyTorch network")
    p.add_argument("--lockstep", type=int, metavar="N",
                   help="train tfsr and PyTorch N steps from the same weights on the same batches, "
                        "print both losses per step")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    p.add_argument("--output", help="folder for metrics.csv")
    args = p.parse_args()

    from tfsr.data import resolve
    from tfsr.data.sources import check_pairs

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    module = build(args.arch, args.scale)
    if args.init_from:
        import keras
        load_tfsr_weights(module, keras.saving.load_model(args.init_from, compile=False), args.arch)
    args.lr = args.lr or (1e-3 if args.arch == "wdsr_b" else 1e-4)
    train = check_pairs(resolve(args.dataset, args.scale, split="train"), args.patch_size, args.skip_bad_images)
    val = resolve(args.eval_dataset, args.scale, split="valid", data_dir=args.data_dir)
    optimizer = torch.optim.Adam(module.parameters(), args.lr, betas=(0.9, 0.999), eps=1e-8)
    if args.lockstep:
        return lockstep(args, module, optimizer, train, val)
    if not args.output:
        p.error("--output is needed (except with --lockstep)")
    sampler = reference_batches if args.pipeline == "reference" else tfsr_batches
    batches = sampler(train, args.batch_size, args.patch_size, args.seed)

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with open(output / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["step", "loss", "val_psnr", "val_ssim", "time"])
        writer.writeheader()
        t0, losses = time.time(), []
        for step in progress.progress_bar(range(1, args.steps + 1), unit="step", mininterval=10):
            losses.append(torch_step(module, optimizer, *next(batches)))
            if step % args.eval_every == 0 or step == args.steps:
                module.eval()
                report = validate(module, val)
                writer.writerow({"step": step, "loss": np.mean(losses), "val_psnr": report.psnr,
                                 "val_ssim": report.ssim, "time": time.time() - t0})
                f.flush()
                losses = []
                progress.write(f"step {step}: {val.name} x{args.scale} {report.psnr:.3f} dB / {report.ssim:.4f}")
    print(f"done: {args.steps} steps in {time.time() - t0:.0f} s; metrics in {output / 'metrics.csv'}")


if __name__ == "__main__":
    main()
