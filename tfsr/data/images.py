"""Reading and writing image files, with one-line errors that name the file."""
import contextlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MAX_PIXELS = 100_000_000
"""Images with more pixels are refused before decoding (decompression bombs)."""


class ImageError(ValueError):
    """A file that cannot be used as an image; the message names the file."""


class DataError(ValueError):
    """A dataset that cannot be used: missing or empty folder, bad layout."""


class SkippedWarning(UserWarning):
    """An input left out (``--skip-bad-images``); the message names it."""


def _open(path, max_pixels):
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            image = Image.open(path)
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: image is too large to decode safely ({e})") from None
    except Exception as e:  # PIL raises many types for non-images
        raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    w, h = image.size
    if w == 0 or h == 0:
        raise ImageError(f"{path}: image has zero size ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(f"{path}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than the "
                         f"limit of {max_pixels / 1e6:.0f} (refused to avoid running out of memory)")
    return image


def image_size(path, max_pixels=MAX_PIXELS):
    """(height, width) from the file header, without decoding the pixels."""
    with _open(path, max_pixels) as image:
        return image.size[1], image.size[0]


def read_image(path, keep_alpha=False, keep_gray=False, max_pixels=MAX_PIXELS):
    """Decode an image file to uint8 RGB (H, W, 3).

    Palette and CMYK images become RGB; 16-bit images are reduced to 8 bits.
    Grayscale files become RGB, or stay (H, W, 1) with ``keep_gray``. Alpha
    is dropped, or kept as RGBA (H, W, 4) with ``keep_alpha``.
    """
    path = Path(path)
    with _open(path, max_pixels) as image:
        try:
            image.load()
        except Exception as e:
            raise ImageError(f"{path}: corrupt or truncated image data ({e})") from None
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image, dtype=np.float64)
            high = 65535.0 if image.mode != "I" or array.max() > 255 else 255.0
            image = Image.fromarray(np.round(array * (255.0 / high)).astype(np.uint8))
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        if keep_alpha and has_alpha:
            return np.asarray(image.convert("RGBA"))
        if keep_gray and image.mode in ("1", "L", "LA"):
            return np.asarray(image.convert("L"))[..., None]
        return np.asarray(image.convert("RGB"))


def list_images(folder, recursive=False):
    """Image files in ``folder`` (and its subfolders if ``recursive``), sorted
    by path; dot-files and dot-folders are ignored.

    Raises `DataError` when the folder is missing or holds no image, and
    `ImageError` naming the first file that is not an image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder does not exist")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in candidates if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not images:
        raise DataError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    others = [p for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
    if others:
        raise ImageError(f"{others[0]}: not an image file (expected {', '.join(IMAGE_EXTENSIONS)})")
    return images


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; move it into place on success.

    The temporary path has the same file name (some writers insist on the
    extension) inside a hidden temporary folder of the destination folder,
    so the final rename is atomic. On error nothing is left behind. Works for
    files and for folders (e.g. a SavedModel).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        temporary = staging / path.name
        yield temporary
        if not temporary.exists():
            raise RuntimeError(f"{path}: nothing was written")
        if path.is_dir() and temporary.is_dir():
            old = staging / ".old"
            os.replace(path, old)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_image(path, array, quality=95, png_level=6):
    """Write a uint8 (H, W), (H, W, 3) or (H, W, 4) array atomically.

    ``quality`` is for JPEG/WebP; ``png_level`` is PNG's zlib level (0-9:
    1 writes several times faster than the default 6, files ~15 % larger).
    """
    path = Path(path)
    image = Image.fromarray(np.asarray(array, dtype=np.uint8))
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg") and image.mode == "RGBA":
        image = image.convert("RGB")
    options = ({"quality": quality} if suffix in (".jpg", ".jpeg", ".webp")
               else {"compress_level": png_level} if suffix == ".png" else {})
    with atomic_output(path) as temporary:
        image.save(temporary, **options)
