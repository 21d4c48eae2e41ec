"""python -m tfsr.interpolate: a model between two, by blending their weights (ESRGAN's network interpolation).

    python -m tfsr.interpolate runs/my_gan/last.keras wdsr_b_x4_real --weight 0.5 --output my_gan_0.5.keras

The two must be the same network, one fine-tuned from the other (a GAN stage
from an L1 model): the output is ``weight * MODEL + (1 - weight) * OTHER``,
variable by variable. With ``--space outputs`` it is one WDSR network twice
as wide whose image is ``weight * MODEL(x) + (1 - weight) * OTHER(x)``: the
two networks side by side, their images blended (four times the compute,
and it keeps each network's detail where blending weights smears it).
``OUTPUT.json`` keeps the recipe, and ``tfsr.ship`` copies it into the
preset's report. Lower weights trade the GAN's texture for the L1 model's
fidelity; choose the weight on held-out images, as the ``wdsr_b_x4_gan``
preset's was (docs/history/2026-11-22_to_12-05-training-log.md §7).
"""
from tfsr import cli


def build_parser():
    p = cli.parser(__doc__.splitlines()[0], cli.program("tfsr.interpolate"))
    p.add_argument("model", help="the model whose share is --weight (a preset, .keras file or run's best.keras)")
    p.add_argument("other", help="the same network with other weights (share 1 - weight)")
    p.add_argument("--weight", type=float, required=True, help="MODEL's share, 0 to 1")
    p.add_argument("--space", choices=["weights", "outputs"], default="weights",
                   help="blend the weights (one network of the same size) or the images (one WDSR network "
                        "twice as wide; the two need not be fine-tuned from each other)")
    p.add_argument("--output", required=True, help="the .keras file to write")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.output.endswith(".keras"):
        raise cli.UserError(f"{args.output}: the output must be a .keras file")
    if not 0.0 <= args.weight <= 1.0:
        raise cli.UserError(f"--weight {args.weight}: must be between 0 and 1")
    cli.check_inputs(models=[args.model, args.other])
    import json

    from tfsr.data.images import atomic_output
    from tfsr.errors import ModelError
    from tfsr.models import load_model
    from tfsr.models.interpolation import blend
    model, other = load_model(args.model), load_model(args.other)
    try:
        blended = blend(model, other, args.weight, args.space)
    except ModelError as e:
        raise cli.UserError(f"{args.model} and {args.other}: {e}") from None
    with atomic_output(args.output) as tmp:
        blended.save(tmp)
    recipe = {"interpolation": {"model": args.model, "other": args.other, "weight": args.weight,
                                "space": args.space}}
    with atomic_output(f"{args.output}.json") as tmp:
        tmp.write_text(json.dumps(recipe, indent=2))
    print(f"{args.output}: {args.weight:g} x {args.model} + {1 - args.weight:g} x {args.other} "
          f"(their {args.space})")


console = cli.entry_point(main)  # the tfsr-interpolate console script: exactly `python -m tfsr.interpolate`

if __name__ == "__main__":
    raise SystemExit(console())
