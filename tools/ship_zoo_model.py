"""Ship a zoo run as its preset (`python -m tfsr.ship RUN`), then drop the checkpoint of a finished run.

    python tools/ship_zoo_model.py saved_models/runs/wdsr_b_x2 --data-dir ../shared/data/benchmark \\
        --calibration ../shared/data/train --qat-steps 300

Takes exactly `python -m tfsr.ship`'s arguments (the preset name defaults to
the run folder's; the files go to saved_models/). A run at the end of its
schedule then keeps config.json, metrics.csv and best.json, not its
checkpoint: the repository would grow by a checkpoint with every commit.
"""
import json
import sys
from pathlib import Path

from tfsr import cli
from tfsr.ship import build_parser
from tfsr.ship import main as ship


def main(argv=None):
    args = build_parser().parse_args(argv)
    ship(argv)
    finish(Path(args.model))
    return 0


def finish(run):
    """Remove the checkpoint of a run that has reached its planned steps."""
    config = json.loads((run / "config.json").read_text())
    state = run / "checkpoint.json"
    if state.exists() and config.get("steps") and json.loads(state.read_text())["step"] >= config["steps"]:
        for name in ("checkpoint.weights.h5", "checkpoint.json"):
            (run / name).unlink(missing_ok=True)
        print(f"{run}: finished at step {config['steps']:,}; its checkpoint is removed (config, metrics and best "
              f"stay)")


if __name__ == "__main__":
    sys.exit(cli.run(main, sys.argv[1:]))
