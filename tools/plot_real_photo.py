"""Before/after crops of real JPEG photos, upscaled by bicubic and by each model, side by side (a PNG for docs/).

    python tools/plot_real_photo.py --models wdsr_b_x4 wdsr_b_x4_real --output docs/real_photo_x4.png

The inputs are tfsr's bundled public-domain photographs, as people have
them: ``rocket.jpg`` as it is (a camera JPEG), and ``coffee.png`` at a
quarter of its size saved as JPEG at quality 60 (a phone's thumbnail). Each
row shows one crop: the LR input (pixels enlarged), bicubic, and each model.
"""
import io
import sys

import numpy as np

from tfsr import cli


def inputs():
    """(label, LR uint8 crop) of the bundled photographs, as JPEG inputs."""
    from PIL import Image

    from tfsr.data import imresize, read_image, sample
    photos = {p.hr.name: p.hr for p in sample(4).pairs}
    rocket = read_image(photos["rocket.jpg"])
    coffee = imresize(read_image(photos["coffee.png"]), 1 / 4)
    buffer = io.BytesIO()
    Image.fromarray(coffee).save(buffer, "JPEG", quality=60)
    coffee = np.asarray(Image.open(buffer).convert("RGB"))
    return [("rocket.jpg (camera JPEG), crop", rocket[150:214, 300:364]),
            ("coffee.png at 1/4, JPEG q60, crop", coffee[20:84, 40:104])]


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], "python tools/plot_real_photo.py")
    p.add_argument("--models", nargs="+", required=True, help="presets or model files, all of one scale")
    p.add_argument("--output", required=True, help="PNG to write")
    args = p.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfsr.data import bicubic_upscale
    from tfsr.data.images import atomic_output
    from tfsr.inference import load

    upscalers = {}
    for spec in args.models:
        upscalers[spec] = load(spec, precision="float32", tile=None)
        scale = upscalers[spec].scale
    rows = inputs()
    columns = ["LR input"] + ["bicubic"] + list(upscalers)
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.6 * len(columns), 3.0 * len(rows)), dpi=110,
                             squeeze=False)
    for (label, lr), row in zip(rows, axes):
        panels = [np.kron(lr, np.ones((scale, scale, 1), np.uint8)), bicubic_upscale(lr, scale)]
        panels += [upscaler(lr) for upscaler in upscalers.values()]
        for ax, title, image in zip(row, columns, panels):
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=9)
        row[0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"x{scale} on real JPEG photos: the clean-trained preset sharpens the blocks, the real one "
                 f"removes them", fontsize=10)
    fig.tight_layout()
    with atomic_output(args.output) as tmp:
        fig.savefig(tmp, format="png")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(cli.run(main))
