import hashlib
import http.server
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import random_image
from PIL import Image

from tfsr.data import (
    DataError,
    ImageError,
    imresize,
    multiscale_training_dataset,
    read_image,
    resolve,
    training_dataset,
    validation_dataset,
)
from tfsr.data.download import download, extract
from tfsr.data.sources import Pair, TfdsSource, check_pairs, folder, load_pair

# --- MATLAB bicubic ---


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imresize_reproduces_matlab_lr_files_bit_for_bit(benchmark_root, dataset, scale):
    for hr_path in sorted((benchmark_root / dataset / "HR").glob("*.png")):
        hr = np.asarray(Image.open(hr_path))
        h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
        matlab = np.asarray(Image.open(benchmark_root / dataset / "LR_bicubic" / f"X{scale}" /
                                       f"{hr_path.stem}x{scale}.png"))
        ours = imresize(hr[:h, :w], 1 / scale)
        assert ours.dtype == np.uint8 and ours.shape == matlab.shape, hr_path.name
        assert np.array_equal(ours, matlab), f"{hr_path.name} x{scale}: {(ours != matlab).sum()} pixels differ"


def test_imresize_properties_without_matlab_files(rng):
    flat = np.full((24, 30, 3), 77, np.uint8)
    assert np.array_equal(imresize(flat, 1 / 3), np.full((8, 10, 3), 77, np.uint8))
    assert np.array_equal(imresize(flat, 2), np.full((48, 60, 3), 77, np.uint8))
    image = random_image(rng, 20, 28)
    assert imresize(image, 1 / 4).shape == (5, 7, 3)
    assert imresize(image, output_shape=(9, 11)).shape == (9, 11, 3)
    # Mirror symmetry: resizing a flipped image is the flipped resize.
    assert np.array_equal(imresize(image[:, ::-1], 1 / 2), imresize(image, 1 / 2)[:, ::-1])
    # Float input is not rounded; uint8 input is rounded after each pass.
    assert imresize(image.astype(np.float64), 1 / 2).dtype == np.float64
    # An impulse downscaled x2 samples the widened kernel 0.5·cubic(0.5·d) at the distances
    # d = u - 9 of MATLAB's output centres u = 2x - 0.5 (1-based): d = -3.5, -1.5, 0.5, 2.5.
    impulse = np.zeros((1, 16))
    impulse[0, 8] = 1.0
    weights = imresize(impulse, output_shape=(1, 8))[0]
    np.testing.assert_allclose(weights[2:6], [-0.01171875, 0.11328125, 0.43359375, -0.03515625], atol=1e-15)
    np.testing.assert_allclose(weights.sum(), 0.5, atol=1e-15)


# --- sources and bad input ---

def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def png_header_only(width, height):
    """A PNG whose header claims ``width`` x ``height``, with no real pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_read_image_converts_modes(tmp_path, rng):
    gray = save(tmp_path / "g.png", random_image(rng, 10, 12, 1)[..., 0])
    assert read_image(gray).shape == (10, 12, 3)
    assert read_image(gray, keep_gray=True).shape == (10, 12, 1)
    rgba = np.concatenate([random_image(rng, 10, 12), np.full((10, 12, 1), 9, np.uint8)], -1)
    save(tmp_path / "a.png", rgba)
    assert read_image(tmp_path / "a.png").shape == (10, 12, 3)
    assert read_image(tmp_path / "a.png", keep_alpha=True)[..., 3].max() == 9
    deep = (np.arange(120, dtype=np.uint16).reshape(10, 12) * 500)
    Image.fromarray(deep).save(tmp_path / "d.png")
    reduced = read_image(tmp_path / "d.png")
    assert reduced.dtype == np.uint8 and reduced[-1, -1, 0] == round(119 * 500 / 257)


@pytest.mark.parametrize("content, problem", [
    (b"definitely not an image", "not a readable image"),
    (png_header_only(11000, 10000), "11000x10000 is 110 megapixels, more than the limit of 100"),
    (png_header_only(30000, 30000), "too large to decode safely"),
])
def test_bad_files_are_named_in_one_line_errors(tmp_path, content, problem):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=problem) as error:
        read_image(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_truncated_png_is_reported(tmp_path, rng):
    path = save(tmp_path / "t.png", random_image(rng, 64, 64))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ImageError, match=f"{path}: corrupt or truncated"):
        read_image(path)


def test_folder_problems(tmp_path, rng):
    with pytest.raises(DataError, match="folder does not exist"):
        resolve(tmp_path / "missing", 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        resolve(tmp_path / "empty", 4)
    save(tmp_path / "mixed" / "a.png", random_image(rng, 32, 32))
    (tmp_path / "mixed" / "readme.txt").write_text("hi")
    with pytest.raises(ImageError, match="readme.txt: not an image file"):
        resolve(tmp_path / "mixed", 4)


def test_hr_folder_includes_subfolders(tmp_path, rng):
    save(tmp_path / "train" / "T91" / "a.png", random_image(rng, 16, 16))
    save(tmp_path / "train" / "BSD" / "b.jpg", random_image(rng, 16, 16))
    (tmp_path / "train" / ".cache").mkdir()
    (tmp_path / "train" / ".cache" / "x.bin").write_bytes(b"ignored")
    source = resolve(tmp_path / "train", 2)
    assert [p.name for p in source.pairs] == ["BSD/b", "T91/a"]


def test_paired_folder_checks_sizes_and_scale_folder(tmp_path, rng):
    root = tmp_path / "set"
    save(root / "HR" / "a.png", random_image(rng, 40, 48))
    save(root / "LR_bicubic" / "X4" / "ax4.png", random_image(rng, 10, 11))  # should be 10x12
    with pytest.raises(ImageError, match="ax4.png: LR is 11x10 but HR a.png at x4 needs 12x10"):
        check_pairs(resolve(root, 4))
    with pytest.raises(DataError, match="no LR folder for x2 \\(found X4\\)"):
        resolve(root, 2)


def test_small_images_are_refused_or_skipped(tmp_path, rng):
    save(tmp_path / "imgs" / "big.png", random_image(rng, 64, 64))
    save(tmp_path / "imgs" / "small.png", random_image(rng, 20, 64))
    source = resolve(tmp_path / "imgs", 2)
    with pytest.raises(ImageError, match="small.png: 64x20 is too small for LR patches of 16 at x2"):
        check_pairs(source, min_lr_size=16)
    with pytest.warns(UserWarning, match="skipped 1 bad image"):
        kept = check_pairs(source, min_lr_size=16, skip_bad=True)
    assert [p.name for p in kept.pairs] == ["big"]


def test_corrupt_training_image_is_skipped_and_counted_when_asked(tmp_path, rng):
    for i in range(3):
        save(tmp_path / "imgs" / f"{i}.png", random_image(rng, 48, 48))
    bad = tmp_path / "imgs" / "1.png"
    bad.write_bytes(bad.read_bytes()[:200])  # header intact, data truncated
    from tfsr.data.pipeline import SkipCounter
    counter = SkipCounter()
    with pytest.warns(UserWarning, match="1.png: corrupt or truncated"):
        next(iter(training_dataset(resolve(tmp_path / "imgs", 2), batch_size=2, patch_size=8, skip_bad=True,
                                   counter=counter)))
    assert len(counter) == 1
    strict = training_dataset(resolve(tmp_path / "imgs", 2), batch_size=2, patch_size=8)
    import tensorflow as tf
    with pytest.raises(tf.errors.OpError, match="1.png: corrupt or truncated"):
        for _ in strict.take(3):
            pass


def test_generated_lr_is_matlab_bicubic_of_cropped_hr(tmp_path, rng):
    hr = random_image(rng, 35, 42)
    save(tmp_path / "x" / "a.png", hr)
    lr, hr_out = load_pair(Pair("a", tmp_path / "x" / "a.png"), 4)
    assert hr_out.shape == (32, 40, 3)
    assert np.array_equal(lr, imresize(hr[:32, :40], 1 / 4))


# --- tf.data pipeline ---

def blocky_source(tmp_path, rng, scale, count=3, size=24):
    """Paired files with HR = LR blown up by pixel repetition: alignment is checkable exactly."""
    for i in range(count):
        lr = rng.integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
        save(tmp_path / "HR" / f"{i}.png", np.kron(lr, np.ones((scale, scale, 1), np.uint8)))
        save(tmp_path / "LR" / f"{i}.png", lr)
    return folder(tmp_path / "HR", scale, tmp_path / "LR")


def test_patches_are_aligned_augmented_and_reproducible(tmp_path, rng):
    source = blocky_source(tmp_path, rng, 3)
    ds = training_dataset(source, batch_size=4, patch_size=8, seed=7)
    batches = list(ds.take(6))
    for lr, hr in batches:
        assert lr.shape == (4, 8, 8, 3) and hr.shape == (4, 24, 24, 3) and lr.dtype.name == "float32"
        assert np.array_equal(np.kron(lr.numpy(), np.ones((1, 3, 3, 1))), hr.numpy())
    again = list(training_dataset(source, batch_size=4, patch_size=8, seed=7).take(6))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, again))
    other = list(training_dataset(source, batch_size=4, patch_size=8, seed=8).take(6))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(batches, other))


def test_augmentation_covers_all_eight_flips_and_rotations(tmp_path, rng):
    lr = rng.permutation(256).astype(np.uint8).reshape(16, 16, 1).repeat(3, -1)
    save(tmp_path / "HR" / "a.png", np.kron(lr, np.ones((2, 2, 1), np.uint8)))
    save(tmp_path / "LR" / "a.png", lr)
    source = folder(tmp_path / "HR", 2, tmp_path / "LR")
    variants = {np.rot90(f, k).tobytes(): (flip, k) for flip, f in ((0, lr), (1, lr[:, ::-1])) for k in range(4)}
    seen = set()
    for patch, _ in training_dataset(source, batch_size=8, patch_size=16, seed=0).take(8):
        for p in patch.numpy().astype(np.uint8):
            seen.add(variants[p.tobytes()])
    assert len(seen) == 8


def test_several_patches_per_image_and_disk_cache(tmp_path, rng):
    source = blocky_source(tmp_path, rng, 2, count=2)
    ds = training_dataset(source, batch_size=6, patch_size=8, patches_per_image=3, cache=tmp_path / "cache")
    lr, _ = next(iter(ds))
    assert lr.shape == (6, 8, 8, 3)
    assert any(p.name.startswith("cache") for p in tmp_path.iterdir())


def test_mdsr_batches_have_one_scale_each(tmp_path, rng):
    for i in range(2):
        save(tmp_path / "imgs" / f"{i}.png", random_image(rng, 96, 96))
    sources = [resolve(tmp_path / "imgs", s) for s in (2, 3, 4)]
    seen = set()
    for lr, hr in multiscale_training_dataset(sources, batch_size=2, patch_size=8).take(24):
        assert hr.shape[1] % 8 == 0 and hr.shape[1] == hr.shape[2]
        seen.add(hr.shape[1] // lr.shape[1])
    assert seen == {2, 3, 4}


def test_validation_keeps_whole_images_in_order_and_gray_as_one_channel(tmp_path, rng):
    save(tmp_path / "v" / "a.png", random_image(rng, 40, 52))
    save(tmp_path / "v" / "b.png", random_image(rng, 44, 36, 1)[..., 0])
    items = list(validation_dataset(resolve(tmp_path / "v", 4)))
    assert [tuple(lr.shape) for lr, _ in items] == [(1, 10, 13, 3), (1, 11, 9, 3)]
    assert [tuple(hr.shape) for _, hr in items] == [(1, 40, 52, 3), (1, 44, 36, 1)]
    cropped = list(validation_dataset(resolve(tmp_path / "v", 4), center_crop=8))
    assert all(tuple(lr.shape) == (1, 8, 8, 3) for lr, _ in cropped)


def test_sample_is_bundled_and_large_enough():
    train = resolve("sample", 4)
    assert len(train) >= 5 and len(resolve("sample", 4, split="valid")) >= 2
    check_pairs(train, min_lr_size=48)


def test_tfds_source_that_is_not_prepared_says_so(tmp_path):
    source = TfdsSource("div2k/bicubic_x4", "train", 4, tmp_path)
    with pytest.raises(DataError, match="not prepared"):
        len(source)
    with pytest.raises(DataError, match="x4 dataset, not x2"):
        TfdsSource("div2k/bicubic_x4", "train", 2)


# --- DIV2K download ---

class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support (what resumable downloads need)."""

    def do_GET(self):
        path = self.translate_path(self.path)
        data = Path(path).read_bytes()
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **k: RangeHandler(*a, directory=str(root), **k)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_download_resumes_checks_and_extracts(tmp_path, server, rng):
    root, url = server
    with zipfile.ZipFile(root / "d.zip", "w") as zf:
        for i in range(3):
            zf.writestr(f"DIV2K_valid_LR_x8/080{i}x8.png", rng.bytes(5000))
    data = (root / "d.zip").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    dest = tmp_path / "data" / "d.zip"
    dest.parent.mkdir()
    (tmp_path / "data" / "d.zip.part").write_bytes(data[:1234])  # an interrupted earlier download
    download(url + "d.zip", dest, size=len(data), sha256=digest, progress=False)
    assert dest.read_bytes() == data and not (tmp_path / "data" / "d.zip.part").exists()
    target = extract(dest, "DIV2K_valid_LR_x8", tmp_path / "data")
    assert sorted(p.name for p in target.iterdir()) == ["0800x8.png", "0801x8.png", "0802x8.png"]
    with pytest.raises(DataError, match="checksum mismatch"):
        download(url + "d.zip", tmp_path / "data" / "e.zip", size=len(data), sha256="0" * 64, progress=False)
    assert not (tmp_path / "data" / "e.zip").exists() and not (tmp_path / "data" / "e.zip.part").exists()


def test_div2k_offline_error_names_url_and_layout(tmp_path, monkeypatch):
    from tfsr.data import div2k
    monkeypatch.setattr(div2k, "URL", "http://127.0.0.1:9/")  # nothing listens on the discard port
    with pytest.raises(DataError) as error:
        resolve("div2k", 4, data_dir=tmp_path)
    message = str(error.value)
    assert "http://127.0.0.1:9/DIV2K_train_HR.zip" in message and str(tmp_path / "DIV2K_train_HR") in message
    assert "\n" not in message


def test_div2k_layout_is_read_when_present(tmp_path, rng):
    from tfsr.data import div2k
    for i in range(801, 901):
        save(tmp_path / "DIV2K_valid_HR" / f"{i:04d}.png", np.zeros((8, 8, 3), np.uint8))
        save(tmp_path / "DIV2K_valid_LR_bicubic" / "X2" / f"{i:04d}x2.png", np.zeros((4, 4, 3), np.uint8))
    source = div2k.div2k(2, "valid", data_dir=tmp_path, download=False)
    assert len(source) == 100 and source.pairs[0].lr.name == "0801x2.png"
    with pytest.raises(DataError, match="DIV2K_valid_LR_unknown/X2: DIV2K folder missing"):
        div2k.div2k(2, "valid", "unknown", data_dir=tmp_path, download=False)


def test_scale_augmentation_adds_shrunk_copies_with_matlab_lr():
    from tfsr.data.images import image_size
    from tfsr.data.sources import PairedSet, sample, scale_augmented
    source = sample(2, "valid")
    augmented = scale_augmented(source, [0.5, 0.75])
    assert len(augmented) == 3 * len(source)
    name = source.pairs[0].name
    assert [p.name for p in augmented.pairs[::len(source)]] == [name, f"{name}@0.5", f"{name}@0.75"]
    lr, hr = augmented.load(len(source))  # the first image at half size
    shrunk = imresize(read_image(source.pairs[0].hr), 0.5)
    np.testing.assert_array_equal(hr, shrunk[:shrunk.shape[0] // 2 * 2, :shrunk.shape[1] // 2 * 2])
    np.testing.assert_array_equal(lr, imresize(hr, 1 / 2))
    # Sizes are checked as shrunk: a copy too small for the patches is dropped, its original kept.
    one = scale_augmented(PairedSet(source.name, 2, source.pairs[:1]), [0.5, 0.75])
    side = min(image_size(source.pairs[0].hr))  # LR sides: side / 2 at 1, 3 side / 8 at 0.75, side / 4 at 0.5
    kept = check_pairs(one, min_lr_size=side * 3 // 8, skip_bad=True)
    assert [p.name for p in kept.pairs] == [name, f"{name}@0.75"]
    with pytest.raises(DataError, match="0 < factor < 1"):
        scale_augmented(source, [1.2])
