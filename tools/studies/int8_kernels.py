"""How far an int8 file is from its fake-quant simulation, per LiteRT kernel set (docs/int8.md, issue 27).

Trains the test suite's tiny models with several seeds, converts each to
int8 and prints, per seed, the max/mean absolute difference between the
simulation, XNNPACK and the reference kernels, and each one's MSE to the
float model.

    python tools/studies/int8_kernels.py --seeds 1 2 3 4 5
"""
import json

import numpy as np

from tfsr import cli

TINY = dict(blocks=2, features=8)


def tiny_model(arch, seed, scale=2):
    """A tiny model trained a few epochs on smooth noise (as tests/test_export.py's trained_tiny)."""
    import keras

    from tfsr.models import build
    keras.utils.set_random_seed(seed)
    model = build(arch, scale, **TINY)
    rng = np.random.default_rng(0)
    hr = np.stack([np.kron(rng.uniform(0, 255, (3, 3, 3)), np.ones((8, 8, 1))) + rng.normal(0, 6, (24, 24, 3))
                   for _ in range(8)]).clip(0, 255).astype(np.float32)
    lr = hr.reshape(8, 24 // scale, scale, 24 // scale, scale, 3).mean(axis=(2, 4))
    model.compile(keras.optimizers.Adam(1e-3), "mae")
    model.fit(lr, hr, batch_size=4, epochs=5, verbose=0)
    return model


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/studies/int8_kernels.py")
    p.add_argument("--archs", nargs="+", default=["wdsr_b", "edsr_baseline"], help="architectures to train")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5], help="training seeds")
    args = p.parse_args()
    from tfsr.data import resolve
    from tfsr.deploy.quantization import quantized_graph, to_int8
    from tfsr.deploy.verify import calibration_patches
    from tfsr.inference.graph import deployable
    from tfsr.inference.runtime import LiteRTPredictor
    source = resolve("sample", 2)
    lr = np.stack([source.load(i)[0][:30, :30] for i in range(2)]).astype(np.float32)
    for arch in args.archs:
        for seed in args.seeds:
            model = tiny_model(arch, seed)
            _, quantized = quantized_graph(model, calibration_patches(source, count=8, size=32))
            data = to_int8(quantized)
            outputs = {"simulation": np.asarray(quantized(lr))}
            outputs.update({k: LiteRTPredictor(data, kernels=k)(lr) for k in ("xnnpack", "reference")})
            target = np.floor(np.clip(np.asarray(deployable(model)(lr)), 0, 255) + 0.5)
            row = {"arch": arch, "seed": seed,
                   "mse_to_float": {k: round(float(np.mean((v - target) ** 2)), 4) for k, v in outputs.items()}}
            for a, b in [("simulation", "xnnpack"), ("simulation", "reference"), ("xnnpack", "reference")]:
                d = np.abs(outputs[a] - outputs[b])
                row[f"{a}-{b}"] = {"max": float(d.max()), "mean": round(float(d.mean()), 4)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
