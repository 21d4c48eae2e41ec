"""PyTorch versions of the networks, laid out like EDSR-PyTorch and the official WDSR code.

Used as references: speed comparisons (tools/benchmark_train.py) and exact
weight-import checks (tests/test_importers.py). Needs ``torch`` (a test-only
extra, never a dependency of tfsr).
"""
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Conv2d):
    """EDSR-PyTorch's 1x1 conv that subtracts (sign -1) or adds the RGB mean."""

    def __init__(self, rgb_range, sign=-1):
        super().__init__(3, 3, kernel_size=1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * torch.Tensor(DIV2K_RGB_MEAN)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    def __init__(self, features, kernel_size=3, res_scale=1.0):
        super().__init__()
        pad = kernel_size // 2
        self.body = nn.Sequential(nn.Conv2d(features, features, kernel_size, padding=pad), nn.ReLU(True),
                                  nn.Conv2d(features, features, kernel_size, padding=pad))
        self.res_scale = res_scale

    def forward(self, x):
        return self.body(x) * self.res_scale + x


def upsampler(scale, features):
    """EDSR-PyTorch's Upsampler: conv + PixelShuffle per x2 (or one x3) stage."""
    layers = []
    for r in ([3] if scale == 3 else [2] * {2: 1, 4: 2, 8: 3}[scale]):
        layers += [nn.Conv2d(features, r * r * features, 3, padding=1), nn.PixelShuffle(r)]
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """EDSR-PyTorch's edsr.py (same state-dict keys)."""

    def __init__(self, scale, features=64, blocks=16, res_scale=1.0, rgb_range=255):
        super().__init__()
        self.sub_mean, self.add_mean = MeanShift(rgb_range), MeanShift(rgb_range, 1)
        self.head = nn.Sequential(nn.Conv2d(3, features, 3, padding=1))
        self.body = nn.Sequential(*[ResBlock(features, res_scale=res_scale) for _ in range(blocks)],
                                  nn.Conv2d(features, features, 3, padding=1))
        self.tail = nn.Sequential(upsampler(scale, features), nn.Conv2d(features, 3, 3, padding=1))

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(x) + x))


class MDSR(nn.Module):
    """EDSR-PyTorch's mdsr.py for scales 2, 3, 4 (same state-dict keys)."""

    def __init__(self, features=64, blocks=16):
        super().__init__()
        self.sub_mean, self.add_mean = MeanShift(255), MeanShift(255, 1)
        self.head = nn.Sequential(nn.Conv2d(3, features, 3, padding=1))
        self.pre_process = nn.ModuleList([nn.Sequential(ResBlock(features, 5), ResBlock(features, 5))
                                          for _ in (2, 3, 4)])
        self.body = nn.Sequential(*[ResBlock(features) for _ in range(blocks)],
                                  nn.Conv2d(features, features, 3, padding=1))
        self.upsample = nn.ModuleList([upsampler(s, features) for s in (2, 3, 4)])
        self.tail = nn.Sequential(nn.Conv2d(features, 3, 3, padding=1))

    def forward(self, x, scale_index):
        x = self.pre_process[scale_index](self.head(self.sub_mean(x)))
        return self.add_mean(self.tail(self.upsample[scale_index](self.body(x) + x)))


class WDSRB(nn.Module):
    """The official WDSR-B (wdsr_b.py): weight-normalised, 1x1 wide + low-rank + 3x3 blocks."""

    def __init__(self, scale, features=32, blocks=16, expansion=6, low_rank=0.8):
        super().__init__()
        out = 3 * scale * scale
        self.register_buffer("mean", torch.Tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1) * 255)
        self.head = weight_norm(nn.Conv2d(3, features, 3, padding=1))
        self.body = nn.Sequential(*[_WDSRBlockB(features, expansion, low_rank) for _ in range(blocks)])
        self.tail = nn.Sequential(weight_norm(nn.Conv2d(features, out, 3, padding=1)), nn.PixelShuffle(scale))
        self.skip = nn.Sequential(weight_norm(nn.Conv2d(3, out, 5, padding=2)), nn.PixelShuffle(scale))

    def forward(self, x):
        x = (x - self.mean) / 127.5
        return (self.tail(self.body(self.head(x))) + self.skip(x)) * 127.5 + self.mean


class _WDSRBlockB(nn.Module):
    def __init__(self, features, expansion, low_rank):
        super().__init__()
        self.body = nn.Sequential(weight_norm(nn.Conv2d(features, features * expansion, 1)), nn.ReLU(True),
                                  weight_norm(nn.Conv2d(features * expansion, int(features * low_rank), 1)),
                                  weight_norm(nn.Conv2d(int(features * low_rank), features, 3, padding=1)))

    def forward(self, x):
        return self.body(x) + x


def layer_pairs(module, arch):
    """{tfsr layer name: (PyTorch conv, pixel-shuffle factor after it or None)} of a reference network."""
    if arch == "wdsr_b":
        pairs = {"head": (module.head, None), "tail": (module.tail[0], module.tail[1].upscale_factor),
                 "skip": (module.skip[0], module.skip[1].upscale_factor)}
        for i, block in enumerate(module.body):
            for name, index in (("expand", 0), ("low_rank", 2), ("reduce", 3)):
                pairs[f"body_block{i}_{name}"] = (block.body[index], None)
        return pairs
    if arch == "edsr_baseline":
        pairs = {"head": (module.head[0], None), "body_end": (module.body[-1], None),
                 "tail": (module.tail[1], None)}
        for i, block in enumerate(module.body[:-1]):
            pairs[f"body_block{i}_conv1"] = (block.body[0], None)
            pairs[f"body_block{i}_conv2"] = (block.body[2], None)
        stages = [m for m in module.tail[0]]
        for i in range(0, len(stages), 2):
            pairs[f"upsample_{i // 2}_conv"] = (stages[i], stages[i + 1].upscale_factor)
        return pairs
    raise ValueError(f"no PyTorch reference for {arch}")
