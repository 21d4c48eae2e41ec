"""How much detail an SR image draws where the photo has it, and adds where the photo is smooth (NumPy only).

PSNR rewards a blur and NIQE missed fur turned to blotches; this score
compares the SR image's fine structure with the photo's, block by block:

- the luma of each image is filtered with the 3x3 Laplacian and split into
  16x16 blocks; a block's energy is its mean squared response;
- ``texture`` is the mean log10 of the SR/HR energy ratio over the photo's
  30 % most textured blocks: 0 draws as much detail as the photo, an L1
  model is strongly negative (a blur), −1 is a tenth of the photo's energy;
- ``flat`` is the same over its 30 % flattest blocks: above 0 is junk (grain,
  ringing, strokes) added where the photo is smooth.

Energies below `FLOOR` (a hundredth of a grey level squared: what rounding to
uint8 alone leaves) count as that floor, so a perfectly flat block has a
finite ratio. Look at the images too: the score sees energy, not whether the
drawn texture is the right one.
"""
import numpy as np

from tfsr.color import as_uint8, luma

BLOCK = 16
SHARE = 0.3
FLOOR = 0.01


def laplacian_energy(image, block=BLOCK):
    """(rows, cols) mean squared 3x3 Laplacian of an RGB or grey image's luma, per ``block`` x ``block`` block."""
    image = np.asarray(image, np.float64)
    y = luma(image) if image.ndim == 3 and image.shape[-1] == 3 else image.reshape(image.shape[:2])
    y = np.pad(y, 1, mode="reflect")
    response = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1]
    rows, cols = response.shape[0] // block, response.shape[1] // block
    if not rows or not cols:
        raise ValueError(f"a {response.shape[1]}x{response.shape[0]} image holds no {block}x{block} block")
    response = response[:rows * block, :cols * block]
    return (response ** 2).reshape(rows, block, cols, block).mean(axis=(1, 3))


def detail_scores(sr, hr, block=BLOCK, share=SHARE):
    """{"texture": ..., "flat": ...} of an SR image (saved to uint8) against its HR photo; see the module."""
    sr_energy = np.maximum(laplacian_energy(as_uint8(sr), block), FLOOR).ravel()
    hr_energy = np.maximum(laplacian_energy(hr, block), FLOOR).ravel()
    ratio = np.log10(sr_energy / hr_energy)
    order = np.argsort(hr_energy, kind="stable")
    count = max(1, round(share * order.size))
    return {"texture": float(ratio[order[-count:]].mean()), "flat": float(ratio[order[:count]].mean())}
