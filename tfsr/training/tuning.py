"""Width/depth studies with keras-tuner.

A trial builds one model from the search space, is rejected before any
training if it exceeds the parameter or FLOP budget, trains for its steps
and scores validation PSNR (Y, shave = scale) with the same data and
metric code as ``tfsr.train``. Each trial's model and numbers are kept in
its trial folder; the search state lives in ``<output>/search`` so running
the same command again continues where it stopped.
"""
import copy
import csv
import json
import time
from pathlib import Path

import keras
import keras_tuner as kt

from tfsr.compat import quiet_keras_tuner
from tfsr.data.images import atomic_output
from tfsr.models import build
from tfsr.models.complexity import count_params, flops_per_lr_pixel
from tfsr.training.assembly import make_evaluator
from tfsr.training.callbacks import save_atomic
from tfsr.training.losses import make_loss
from tfsr.training.optimization import adam

DEFAULT_SPACES = {
    "edsr": {"blocks": [4, 8, 16, 32], "features": [32, 48, 64, 96, 128], "res_scale": [1.0, 0.1],
             "lr": {"min": 1e-4, "max": 1e-3, "sampling": "log"}},
    "wdsr_a": {"blocks": [4, 8, 16, 32], "features": [16, 24, 32, 48], "expansion": [2, 4, 6, 8],
               "res_scale": [1.0], "lr": {"min": 3e-4, "max": 3e-3, "sampling": "log"}},
    "wdsr_b": {"blocks": [4, 8, 16, 32], "features": [16, 24, 32, 48], "expansion": [4, 6, 8],
               "low_rank": [0.6, 0.8, 1.0], "res_scale": [1.0], "lr": {"min": 3e-4, "max": 3e-3, "sampling": "log"}},
    "srvgg": {"convs": [4, 8, 16, 32], "features": [16, 24, 32, 48, 64],
              "lr": {"min": 1e-4, "max": 1e-3, "sampling": "log"}},
}
TUNERS = {"random": kt.oracles.RandomSearchOracle, "hyperband": kt.oracles.HyperbandOracle,
          "bayesian": kt.oracles.BayesianOptimizationOracle}
quiet_keras_tuner()  # a budget rejection is a one-line message, not a traceback
OBJECTIVE = kt.Objective("val_psnr", direction="max")


def search_space(arch, overrides=None):
    """The family's default space with ``overrides`` (same format) replacing keys.

    A key maps to a list (a choice) or to ``{"min", "max"[, "step"][, "sampling"]}``.
    """
    space = copy.deepcopy(DEFAULT_SPACES[arch])
    for key, value in (overrides or {}).items():
        if key not in space:
            raise ValueError(f"{arch} has no hyperparameter {key!r} to search (it has {', '.join(space)})")
        space[key] = value
    return space


def _sample(hp, name, spec):
    if isinstance(spec, list):
        return hp.Choice(name, spec)
    if isinstance(spec.get("min"), int) and isinstance(spec.get("max"), int) and spec.get("sampling") != "log":
        return hp.Int(name, spec["min"], spec["max"], step=spec.get("step", 1))
    return hp.Float(name, float(spec["min"]), float(spec["max"]), step=spec.get("step"),
                    sampling=spec.get("sampling", "linear"))


class SRHyperModel(kt.HyperModel):
    """Builds a model from the space; rejects it at once when over budget."""

    def __init__(self, arch, scale, space, max_params=None, max_flops=None):
        super().__init__(name=f"{arch}_x{scale}")
        self.arch, self.scale, self.space = arch, scale, space
        self.max_params, self.max_flops = max_params, max_flops

    def build(self, hp):
        values = {name: _sample(hp, name, spec) for name, spec in self.space.items()}
        options = {k: v for k, v in values.items() if k != "lr"}
        model = build(self.arch, self.scale, **options)
        params, flops = count_params(model), flops_per_lr_pixel(model)
        if self.max_params and params > self.max_params:
            raise kt.errors.FailedTrialError(f"over budget: {params:,} parameters > {self.max_params:,.0f}")
        if self.max_flops and flops > self.max_flops:
            raise kt.errors.FailedTrialError(f"over budget: {flops:,.0f} FLOPs/pixel > {self.max_flops:,.0f}")
        return model


class SRTuner(kt.Tuner):
    """Trains each trial for its steps and reports validation PSNR/SSIM.

    Works with the random, Bayesian and Hyperband oracles; under Hyperband a
    trial's budget is ``tuner/epochs`` slices of ``steps_per_epoch`` steps
    and a promoted trial continues from its parent's weights.
    """

    def run_trial(self, trial, train_data, val_data, config, steps_per_epoch):
        hp = trial.hyperparameters
        model = self.hypermodel.build(hp)
        parent = hp.values.get("tuner/trial_id")
        if parent:
            model.load_weights(Path(self.get_trial_dir(parent)) / "model.keras")
        epochs = hp.values.get("tuner/epochs", 1)
        initial_epoch = hp.values.get("tuner/initial_epoch", 0)
        model.compile(adam(hp.get("lr")),
                      make_loss(config.loss_spec), jit_compile=config.jit_compile)
        timer = _StepTimer()
        model.fit(train_data, steps_per_epoch=steps_per_epoch, epochs=epochs, initial_epoch=initial_epoch,
                  callbacks=[timer], shuffle=False, verbose=0)
        scores = make_evaluator(model, config).evaluate(val_data, verbose=0, return_dict=True)
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        save_atomic(model, trial_dir / "model.keras")
        summary = {"trial": trial.trial_id, "arch": self.hypermodel.arch,
                   **{k: v for k, v in hp.values.items() if not k.startswith("tuner/")},
                   "params": count_params(model), "flops_per_pixel": flops_per_lr_pixel(model),
                   "steps": epochs * steps_per_epoch, "steps_per_second": timer.rate(),
                   "val_psnr": scores["psnr"], "val_ssim": scores["ssim"]}
        with atomic_output(trial_dir / "tfsr_trial.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
        return {"val_psnr": scores["psnr"], "val_ssim": scores["ssim"]}


    def on_trial_end(self, trial):
        if trial.status in ("FAILED", "INVALID"):
            print(f"trial {trial.trial_id} rejected: {_failure_reason(trial)}", flush=True)
        super().on_trial_end(trial)


class _StepTimer(keras.callbacks.Callback):
    """Steps per second, not counting the first step (tracing)."""

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if not hasattr(self, "start"):
            self.start, self.steps = now, 0
        else:
            self.steps += 1
            self.last = now

    def rate(self):
        return self.steps / (self.last - self.start) if getattr(self, "steps", 0) else float("nan")


def make_tuner(arch, scale, tuner, space, output, max_trials, max_params=None, max_flops=None, seed=0,
               hyperband_epochs=3):
    """An `SRTuner` whose state is in ``output/search`` (reloaded when it exists)."""
    hypermodel = SRHyperModel(arch, scale, space, max_params, max_flops)
    if tuner == "hyperband":
        oracle = kt.oracles.HyperbandOracle(OBJECTIVE, max_epochs=hyperband_epochs, seed=seed,
                                            hyperband_iterations=1, max_retries_per_trial=0)
    else:
        oracle = TUNERS[tuner](OBJECTIVE, max_trials=max_trials, seed=seed, max_retries_per_trial=0)
    return SRTuner(oracle=oracle, hypermodel=hypermodel, directory=str(output), project_name="search",
                   overwrite=False)


def _failure_reason(trial):
    """The last line of a failed trial's message, without the exception's class name."""
    last = (trial.message or "failed").strip().splitlines()[-1]
    return last.split("FailedTrialError: ", 1)[-1]


def collect_results(tuner):
    """(completed trial summaries sorted by PSNR, rejected trials with their reason)."""
    done, rejected = [], []
    for trial in tuner.oracle.trials.values():
        path = Path(tuner.get_trial_dir(trial.trial_id)) / "tfsr_trial.json"
        if trial.status == "COMPLETED" and path.exists():
            done.append(json.loads(path.read_text()))
        elif trial.status in ("FAILED", "INVALID"):
            values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
            rejected.append({"trial": trial.trial_id, **values, "reason": _failure_reason(trial)})
    done.sort(key=lambda r: -r["val_psnr"])
    return done, rejected


def write_reports(output, results, rejected, scale, bicubic=None):
    """``results.csv``, ``results.md`` and ``psnr_vs_params.png`` in ``output``; the table as text."""
    output = Path(output)
    measured = ["params", "flops_per_pixel", "steps", "steps_per_second", "val_psnr", "val_ssim"]
    columns = [k for k in (results[0] if results else {}) if k not in measured] + measured
    with atomic_output(output / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(results)
    fmt = {"params": "{:,}", "flops_per_pixel": "{:,.0f}", "steps_per_second": "{:.2f}", "val_psnr": "{:.3f}",
           "val_ssim": "{:.4f}", "lr": "{:.2e}"}
    rows = [[fmt.get(c, "{}").format(r[c]) for c in columns] for r in results]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if rejected:
        lines += ["", "Rejected before training:", ""]
        lines += [f"- trial {r['trial']}: {r['reason']}" for r in rejected]
    if bicubic is not None:
        lines += ["", f"Bicubic on the same validation images: {bicubic:.3f} dB (Y, shave {scale})."]
    table = "\n".join(lines)
    with atomic_output(output / "results.md") as tmp:
        tmp.write_text(table + "\n")
    if results:
        plot_psnr_vs_params(output / "psnr_vs_params.png", results, bicubic)
    return table


def _shape_label(result):
    """'blocks x features' plus the expansion ratio when the family has one, e.g. '12x24 r6'."""
    label = f"{result['blocks']}x{result['features']}"
    return label + (f" r{result['expansion']}" if result.get("expansion") not in (None, "") else "")


def plot_psnr_vs_params(path, results, bicubic=None, label_key="arch"):
    """A scatter plot of validation PSNR against parameters, written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=120)
    groups = {}
    for r in results:
        groups.setdefault(r.get(label_key, "trials"), []).append(r)
    for name, rows in groups.items():
        ax.scatter([r["params"] for r in rows], [r["val_psnr"] for r in rows], label=name, s=28)
        for r in rows:
            ax.annotate(_shape_label(r), (r["params"], r["val_psnr"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
    if bicubic is not None:
        ax.axhline(bicubic, color="gray", linestyle="--", linewidth=1, label="bicubic")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("validation PSNR (dB, Y)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
