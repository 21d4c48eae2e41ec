"""The console lines of a run: what it is about to do, and what it did."""
from tfsr.data.sources import PairedSet
from tfsr.models import get_arch
from tfsr.training.optimization import format_duration, parse_duration


def start_summary(config, net, params, train_source, val_source, start, resume, init_report, strategy,
                   bicubic):
    hyper = ", ".join(f"{k}={v}" for k, v in get_arch(config.arch).defaults.items()
                      if k not in config.model_overrides())
    overrides = ", ".join(f"{k}={v}" for k, v in config.model_overrides().items())
    lines = [
        "=" * 72,
        f"tfsr train   {config.arch} x{config.scale}   {params:,} parameters",
        f"  model      {hyper}{', ' if hyper and overrides else ''}{overrides}",
        f"  data       {train_source.name} ({len(train_source)} images), LR patch {config.patch_size}, "
        f"batch {config.batch_size}",
        f"  validation {val_source.name} ({len(val_source)} images) every {config.eval_every} steps; "
        f"bicubic {bicubic.psnr:.2f} dB / {bicubic.ssim:.4f} ({bicubic.convention})",
        *_degradation_lines(config, val_source),
        f"  schedule   {_describe_schedule(config)}, loss {config.loss.upper()}",
        *_adversary_lines(config),
        *_teacher_lines(config),
        f"  run        {config.output}  ({'resumed at step ' + str(start) if resume else 'new'}; "
        f"strategy {config.strategy}, {strategy.num_replicas_in_sync} replica(s))",
    ]
    if init_report:
        kept = "" if init_report.skipped else " (output unchanged)"
        grown = f", grew {len(init_report.grown)}{kept}" if init_report.grown else ""
        lines.append(f"  init-from  {config.init_from}: copied {len(init_report.copied)} layers{grown}, "
                     f"skipped {len(init_report.skipped)}")
        lines += [f"             skipped {name}: {why}" for name, why in init_report.skipped.items()]
    for change in config.changes or []:
        since = ", ".join(f"{k}={v}" for k, v in change.items() if k != "step")
        lines.append(f"  changed    from step {change['step']}: {since}")
    lines.append("=" * 72)
    return "\n".join(lines)


def _adversary_lines(config):
    if not config.adversarial:
        return []
    return [f"  adversary  {config.discriminator} discriminator, {config.d_features} features, Adam lr "
            f"{config.d_lr or config.lr:g}; best model: lowest validation NIQE with PSNR above bicubic"]


def _teacher_lines(config):
    if not config.teacher:
        return []
    blend = " + ".join(f"{w:g} × {t}" for w, t in zip(config.teacher_weights, config.teacher))
    return [f"  teacher    targets are {blend} of the LR, not the HR; best model: lowest validation NIQE with PSNR "
            f"above bicubic"]


def validation_identity(config, source):
    """What validation scores are comparable within: the set, its images and crop, and its LR."""
    if not isinstance(source, PairedSet):
        return f"{source.name} (crop {config.eval_crop})"
    return f"{source.name}, {len(source)} images, crop {config.eval_crop}, {source.describe_input()}"


def _degradation_lines(config, val_source):
    chain = config.degradation_chain()
    validation = val_source.describe_input() if isinstance(val_source, PairedSet) else "as loaded"
    if chain is None and validation.startswith("LR as loaded") and not config.sharpen_target:
        return []
    sharpened = ", targets sharpened (unsharp mask)" if config.sharpen_target else ""
    return [f"  degrade    training: {chain.describe() if chain else 'LR as loaded'}{sharpened}; "
            f"validation: {validation}"]


def _describe_schedule(config):
    steps = (f"steps fitted to the {config.time_budget} budget" if config.steps is None
             else f"{config.steps:,} steps")
    if config.schedule == "cosine":
        text = f"{steps}, Adam lr {config.lr:g} cosine-decayed to 0"
    else:
        text = f"{steps}, Adam lr {config.lr:g} halved every {config.halve_every:,}"
    if config.warmup_steps:
        text += f" after {config.warmup_steps:,} warm-up steps"
    if config.ema:
        text += f"; weights averaged (EMA {config.ema:g})"
    if config.time_budget is not None and config.steps is not None:
        text += f"; stops before {format_duration(parse_duration(config.time_budget))}"
    return text


def end_summary(result, output):
    lines = ["=" * 72, f"done: step {result.final_step}  ({result.steps_per_second:.2f} steps/s)"]
    if result.budget_expired:
        of = f" of {result.planned_steps:,}" if result.planned_steps else ""
        lines.append(f"  stopped by the time budget at step {result.final_step:,}{of}; "
                     f"continue with: python -m tfsr.train --output {output} --resume")
    if result.best:
        lines.append(f"  best validation {result.best['val_psnr']:.2f} dB / {result.best['val_ssim']:.4f} "
                     f"at step {result.best['step']}   bicubic {result.bicubic_psnr:.2f} dB / "
                     f"{result.bicubic_ssim:.4f}   ({result.best['val_psnr'] - result.bicubic_psnr:+.2f} dB)")
    lines += [f"  best model {output / 'best.keras'}", f"  last model {output / 'last.keras'}",
              f"  logs       {output / 'metrics.csv'}, tensorboard --logdir {output / 'logs'}", "=" * 72]
    return "\n".join(lines)
