"""DIV2K (Agustsson & Timofte, NTIRE 2017) in its official folder layout.

    <root>/DIV2K_train_HR/0001.png                     train 0001-0800
    <root>/DIV2K_valid_HR/0801.png                     valid 0801-0900
    <root>/DIV2K_train_LR_bicubic/X4/0001x4.png        bicubic x2, x3, x4
    <root>/DIV2K_train_LR_unknown/X4/0001x4.png        unknown x2, x3, x4
    <root>/DIV2K_train_LR_x8/0001x8.png                bicubic x8

Missing folders are downloaded from the official site (resumable, checked
against the published size and SHA-256, unpacked atomically).
"""
from tfsr.data.download import download, extract
from tfsr.data.images import DataError
from tfsr.data.sources import Pair, PairedSet, data_root

URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
SPLITS = {"train": range(1, 801), "valid": range(801, 901)}

# zip name -> (bytes, sha256), as published in tensorflow-datasets' checksums
ARCHIVES = {
    "DIV2K_train_HR.zip": (3530603713, "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335"),
    "DIV2K_valid_HR.zip": (448993893, "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"),
    "DIV2K_train_LR_bicubic_X2.zip": (925390592, "a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850"),
    "DIV2K_train_LR_bicubic_X3.zip": (427847282, "ad5c8e5507e2765823d3c2c5bd0934842efcd487c5370604c224090898b3163a"),
    "DIV2K_train_LR_bicubic_X4.zip": (246914039, "f006b837f4eb52b82909aa01478e6d6d199eefce932179491d0c9dbb706dde3a"),
    "DIV2K_train_LR_x8.zip": (65753171, "706fa23164fa0756a3accb78e69b937ea47f882b47e13506895deefd623a35c2"),
    "DIV2K_train_LR_unknown_X2.zip": (734182735, "f166eeba119fc55bfc9a99c05561980e7a965382f36640ce8ef626c9f61d122c"),
    "DIV2K_train_LR_unknown_X3.zip": (377245548, "b6455af3b2aa02d76ae3238c49d7aae3b48b0acdc44b5bdc0f4c02d40ebcb43b"),
    "DIV2K_train_LR_unknown_X4.zip": (208956781, "d131c7aad51e0abbdc4433362ce899e5e75f40b9847ead70ee995188e8fd0adb"),
    "DIV2K_valid_LR_bicubic_X2.zip": (117763600, "60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57"),
    "DIV2K_valid_LR_bicubic_X3.zip": (54513392, "04b9a2ed3b4a0715d3924d3ae8514830c3328fac8d30512ce716d6f419e052a3"),
    "DIV2K_valid_LR_bicubic_X4.zip": (31505881, "a50a5d1c4b88de4e8d300d8fb2b904c52fe93b2b298a4899697760d7cbb6d553"),
    "DIV2K_valid_LR_x8.zip": (8428103, "3432f23da7c6887acc5e2cde9669427a7710b3b256c58912dddc19e3eda5bc69"),
    "DIV2K_valid_LR_unknown_X2.zip": (93433041, "ec50bb084c0011130874efd2ed7859b46e0aa7104c565818d5271ac315e04e0a"),
    "DIV2K_valid_LR_unknown_X3.zip": (48143315, "ebf23a3e1ef6800cae97285d3a50d022d89b62655e685884c0abcc89eec5b809"),
    "DIV2K_valid_LR_unknown_X4.zip": (26695095, "e3897555a98de1157c20974fb6093105fbc1ff5e9caf7bd348f58f6da140fbef"),
}


def layout(split, scale, degradation):
    """(HR folder, LR folder, zip of HR, zip of LR) relative to the root."""
    if split not in SPLITS:
        raise ValueError(f"DIV2K split is 'train' or 'valid', got {split!r}")
    if degradation == "bicubic" and scale == 8:
        lr_dir, lr_zip = f"DIV2K_{split}_LR_x8", f"DIV2K_{split}_LR_x8.zip"
    elif degradation in ("bicubic", "unknown") and scale in (2, 3, 4):
        lr_dir = f"DIV2K_{split}_LR_{degradation}/X{scale}"
        lr_zip = f"DIV2K_{split}_LR_{degradation}_X{scale}.zip"
    else:
        raise DataError(f"DIV2K has no {degradation} x{scale} (bicubic x2/x3/x4/x8, unknown x2/x3/x4)")
    return f"DIV2K_{split}_HR", lr_dir, f"DIV2K_{split}_HR.zip", lr_zip


def div2k(scale, split="train", degradation="bicubic", data_dir=None, download=True):
    """The DIV2K `PairedSet`, downloading what is missing when allowed."""
    root = data_root(data_dir)
    hr_dir, lr_dir, hr_zip, lr_zip = layout(split, scale, degradation)
    for folder, archive in ((hr_dir, hr_zip), (lr_dir, lr_zip)):
        if not (root / folder).is_dir():
            if not download:
                raise DataError(f"{root / folder}: DIV2K folder missing (download {URL + archive} "
                                f"and unpack it in {root})")
            fetch(archive, folder, root)
    pairs = []
    for i in SPLITS[split]:
        name = f"{i:04d}"
        pair = Pair(name, root / hr_dir / f"{name}.png", root / lr_dir / f"{name}x{scale}.png")
        for path in (pair.hr, pair.lr):
            if not path.is_file():
                raise DataError(f"{path}: missing DIV2K file (expected the official layout "
                                f"{hr_dir}/{name}.png and {lr_dir}/{name}x{scale}.png under {root})")
        pairs.append(pair)
    return PairedSet(f"div2k/{split}/{degradation}_x{scale}", scale, pairs)


def fetch(archive, folder, root):
    """Download ``archive`` into ``root`` and unpack its ``folder``."""
    size, sha256 = ARCHIVES[archive]
    try:
        path = download(URL + archive, root / archive, size=size, sha256=sha256)
    except DataError as e:
        raise DataError(f"{e}; DIV2K needs {root / folder} (unpack {archive} in {root}, "
                        f"or set --data-dir / $TFSR_DATA_DIR to where DIV2K is)") from None
    extract(path, folder, root)
    path.unlink()
