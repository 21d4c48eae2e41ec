"""Shipping a trained model as a preset: its .keras file, a benchmark report, verified float16 and int8 files.

What `python -m tfsr.ship` and the zoo's ``tools/ship_zoo_model.py`` run, so
the shipped files of ``saved_models/`` are reproduced by a package command.
A model for degraded inputs (its ``inputs`` chain, e.g. the real presets'
``photo``) is verified on Set5 degraded by that chain (seed 0), and its int8
ranges are calibrated and fine-tuned on training images degraded the same
way: the protocol the model is for.
"""
import csv
import json
import shutil
from itertools import pairwise
from pathlib import Path

from tfsr.data.teacher_sets import finished_crops, is_teacher_set, read_manifest

METRICS = ("psnr", "ssim", "niqe")  # NIQE: what a perceptual preset is for (MATLAB's, lower is more natural)
CALIBRATION_PATCHES, CALIBRATION_SIZE, QAT_LR = 200, 64, 1e-5
SHIPPED_FILES = (".keras.json", "_float16.tflite", "_float16.tflite.json", "_int8.tflite", "_int8.tflite.json")
PUBLISHED = {  # Y-PSNR of the best published models trained on the same 291 images: {scale: {model: (Set5, Set14)}}
    2: {"VDSR": (37.53, 33.03), "DRRN": (37.74, 33.23), "MemNet": (37.78, 33.28)},
    3: {"VDSR": (33.66, 29.77), "DRRN": (34.03, 29.96), "MemNet": (34.09, 30.00)},
    4: {"VDSR": (31.35, 28.01), "DRRN": (31.68, 28.21), "MemNet": (31.74, 28.26)},
}


def is_run(path):
    """Whether ``path`` is a training run folder with a chosen model (best.keras, best.json)."""
    return Path(path).is_dir() and (Path(path) / "best.keras").is_file() and (Path(path) / "best.json").is_file()


def run_report(run):
    """What a run folder tells about its best model: the run, the step, its chain, its training hours, and
    the teachers it learnt from ({model: share}) if it was distilled, or the teacher set (its teacher, with
    files and licence, chain and crops) it was trained on."""
    run = Path(run)
    config = json.loads((run / "config.json").read_text())
    report = {"run": str(run), "step": json.loads((run / "best.json").read_text())["step"],
              "training_hours": round(training_hours(run / "metrics.csv"), 2),
              "trained_on": config.get("eval_degradation") or config.get("degradation") or "bicubic"}
    if config.get("teacher"):
        report["teachers"] = dict(zip(config["teacher"], config["teacher_weights"], strict=True))
    if config.get("dataset") and is_teacher_set(config["dataset"]):
        manifest = read_manifest(config["dataset"])
        report["trained_on"] = manifest["chain"]
        report["teacher_set"] = {"teacher": manifest["teacher"], "share": config.get("teacher_share") or 1.0,
                                 "chain": manifest["chain"], "sources": manifest["sources"],
                                 "crops": sum(c["split"] == "train" for c in finished_crops(config["dataset"])),
                                 "crop": manifest["crop"], "seed": manifest["seed"],
                                 "hold_out": manifest["hold_out"]}
    return report


def blend_report(model_file):
    """The recipe of a model made by ``tfsr.interpolate`` (or shipped from one), kept in ``<file>.json``."""
    sidecar = Path(f"{model_file}.json")
    recipe = json.loads(sidecar.read_text()).get("interpolation") if sidecar.is_file() else None
    return {"interpolation": recipe} if recipe else None


def training_hours(metrics_csv):
    """Wall-clock hours a run trained, from its metrics.csv timestamps.

    A gap much longer than the run's usual interval between rows is a pause
    between sessions; such a gap is counted at the run's median seconds per
    step instead.
    """
    with open(metrics_csv) as f:
        rows = [(int(r["step"]), float(r["time"])) for r in csv.DictReader(f)]
    per_step = sorted((t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in pairwise(rows) if s1 > s0)
    if not per_step:
        return 0.0
    median = per_step[len(per_step) // 2]
    seconds = rows[0][0] * median
    for (s0, t0), (s1, t1) in pairwise(rows):
        steps = s1 - s0
        seconds += t1 - t0 if (t1 - t0) <= 3 * median * steps else median * steps
    return seconds / 3600


def benchmark_report(model, scale, data_dir, protocols, log=print):
    """{set5, set14: scores, degraded: {chain: {set5, set14: scores}}} with bicubic's beside each.

    ``protocols`` are chain specs; ``None`` is clean LR (the report's top level).
    """
    from tfsr.data import resolve
    from tfsr.data.degradations import degradation
    from tfsr.data.sources import bicubic_upscale
    from tfsr.evaluation import evaluate
    from tfsr.inference import upscaler

    sr = upscaler(model, scale, backend="function")
    report = {}
    for spec in protocols:
        chain = degradation(spec) if spec else None
        for name in ("set5", "set14"):
            data = resolve(name, scale, split="valid", data_dir=data_dir).degraded(chain)
            scored = evaluate(data, sr, progress=False, metrics=METRICS)
            bicubic = evaluate(data, lambda lr: bicubic_upscale(lr, scale), progress=False, metrics=METRICS)
            scores = {"psnr": scored.psnr, "ssim": scored.ssim, "niqe": scored.mean("niqe"),
                      "bicubic_psnr": bicubic.psnr, "bicubic_ssim": bicubic.ssim, "bicubic_niqe": bicubic.mean("niqe"),
                      "convention": scored.convention, "input": scored.input}
            (report.setdefault("degraded", {}).setdefault(spec, {}) if spec else report)[name] = scores
            log(f"{data.name} x{scale} {spec or 'clean'}: {scored.psnr:.2f} dB / {scored.ssim:.4f}  "
                f"(bicubic {bicubic.psnr:.2f} / {bicubic.ssim:.4f})")
    return report


def ship(model_file, name, output, data_dir, calibration, inputs="bicubic", qat_steps=0, max_int8_drop=0.2,
         score_degradations=("jpeg:75", "classical"), report=None, log=print, max_int8_niqe_change=None,
         blend=None):
    """Write NAME.keras, NAME.keras.json, NAME_float16.tflite and NAME_int8.tflite (each with its report).

    Args:
        model_file: the single-scale .keras file to ship (copied as it is).
        output: the folder the files go to.
        data_dir: root of Set5 and Set14 (scores; Set5 verifies the exports, Set14 is their held-out check).
        calibration: int8 calibration images (a folder or dataset name), degraded by ``inputs``.
        inputs: the chain the model is for; scored besides ``score_degradations`` and clean LR.
        report: extra fields for NAME.keras.json (e.g. the run, its step).
        blend: (partner .keras file, strength, "weights" or "outputs") for a preset with a strength slider:
            NAME.keras is the model as it is (strength 1); the scores and the .tflite files are of it blended
            with the partner at ``strength``, the preset's default (`tfsr.models.presets.Preset`).
    Raises `tfsr.deploy.export.ExportError` when an export fails its check (the int8 one above
    ``max_int8_drop`` dB, or, if given, with Set5's NIQE moved by more than ``max_int8_niqe_change``);
    the files written before it stay.
    Returns the .keras report. A model that ``output`` already ships, with all its files, is left as it
    is: re-shipping an unchanged model writes nothing (its reports' latencies would change every time).
    """
    from tfsr.data import resolve
    from tfsr.data.degradations import degradation
    from tfsr.data.images import atomic_output
    from tfsr.deploy.export import export_tflite
    from tfsr.deploy.verify import calibration_patches
    from tfsr.models import for_scale, load_model
    from tfsr.models.complexity import count_params, flops_per_lr_pixel

    output = Path(output)
    keras_file = output / f"{name}.keras"
    files = [keras_file, *(output / f"{name}{end}" for end in SHIPPED_FILES)]
    if all(f.is_file() for f in files) and keras_file.read_bytes() == Path(model_file).read_bytes():
        log(f"{name}: {output} already ships this model with all its files; nothing written")
        return json.loads(files[1].read_text())
    model, scale = for_scale(load_model(model_file), path=str(model_file))
    output.mkdir(parents=True, exist_ok=True)
    with atomic_output(keras_file) as tmp:
        shutil.copyfile(model_file, tmp)
    summary = {"preset": name, **(report or {}), "parameters": count_params(model),
               "mflops_per_lr_pixel": flops_per_lr_pixel(model) / 1e6, "inputs": inputs}
    if blend:
        from tfsr.models.interpolation import blend as blended
        partner, strength, kind = blend
        model = blended(model, load_model(partner), strength, kind)
        summary["strength"] = {"partner": str(partner), "default": strength, "blend": kind,
                               "scored_and_exported_at": strength, "keras_file_at": 1.0}
        log(f"{name}: scored and exported at strength {strength:g} (its {kind} blended with {partner}'s)")
    if inputs == "bicubic" and scale in PUBLISHED:
        summary["published_291_images"] = {paper: {"set5_psnr": set5, "set14_psnr": set14}
                                           for paper, (set5, set14) in PUBLISHED[scale].items()}
    protocols = [None] + [spec for spec in dict.fromkeys([*score_degradations, inputs]) if spec != "bicubic"]
    summary.update(benchmark_report(model, scale, data_dir, protocols, log))
    with atomic_output(f"{keras_file}.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))

    own = degradation(inputs)
    set5 = resolve("set5", scale, split="valid", data_dir=data_dir).degraded(own)
    set14 = resolve("set14", scale, split="valid", data_dir=data_dir).degraded(own)
    source = resolve(calibration, scale, split="train").degraded(own)
    patches = calibration_patches(source, CALIBRATION_PATCHES, CALIBRATION_SIZE)
    provenance = {"dataset": source.name, "input": source.describe_input(), "patches": CALIBRATION_PATCHES,
                  "patch_size": CALIBRATION_SIZE, "qat_steps": qat_steps, "qat_lr": QAT_LR if qat_steps else None}
    converted = None
    if qat_steps:
        from tfsr.deploy.quantization import qat_int8
        images = [source.load(i)[0] for i in range(len(source))]
        converted = qat_int8(model, patches, images, qat_steps, QAT_LR)
    for quantize, extra in (("float16", {}), ("int8", {"calibration": patches, "converted": converted,
                                                        "max_psnr_drop": max_int8_drop,
                                                        "max_niqe_change": max_int8_niqe_change,
                                                        "calibration_info": provenance})):
        path = output / f"{name}_{quantize}.tflite"
        exported = export_tflite(model, scale, path, quantize, verify_on=set5, metadata=True, name=name,
                                 held_out=set14, **extra)
        log(f"{path}: {exported['exported']['psnr']:.3f} dB on {set5.describe_input()} Set5 "
            f"(drop {exported['psnr_drop']:+.3f}, SSIM {exported['ssim_drop']:+.4f}, NIQE "
            f"{exported['niqe_change']:+.3f}, white noise as large {exported['niqe_noise_change']:+.3f} ± "
            f"{exported['niqe_noise_spread']:.3f}; Set14 drop {exported['held_out']['psnr_drop']:+.3f}, NIQE "
            f"{exported['held_out']['niqe_change']:+.3f}, noise {exported['held_out']['niqe_noise_change']:+.3f} ± "
            f"{exported['held_out']['niqe_noise_spread']:.3f}), {exported['size_bytes'] / 1e6:.2f} MB")
    return summary
