"""Degradations made in graph: each op does what it should, chains are seeded, options are checked."""
import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import random_image

from tfsr.data import imresize, sample
from tfsr.data.degradation_options import DEFAULTS, MIXTURES, DegradationError
from tfsr.data.degradations import (
    KERNEL_SIZE,
    _Seeds,
    blur,
    degradation,
    gaussian_kernel,
    gaussian_noise,
    jpeg,
    poisson_noise,
    random_kernel,
    sharpen,
    sinc_kernel,
)
from tfsr.data.pipeline import training_dataset
from tfsr.data.sources import image_seed

CHAINS = [name for name in DEFAULTS]


@pytest.fixture(scope="module")
def pair():
    """A 96×96 HR patch with texture, and its MATLAB-bicubic x4 LR (float32)."""
    hr = random_image(np.random.default_rng(3), 96, 96)
    return tf.constant(hr, tf.float32), tf.constant(imresize(hr, 1 / 4), tf.float32)


def high_frequency_energy(image):
    """Mean squared Laplacian: what blur removes."""
    x = np.asarray(image, np.float64)
    lap = 4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
    return float(np.mean(lap ** 2))


@pytest.mark.parametrize("name", CHAINS)
def test_every_chain_gives_whole_grey_levels_of_the_lr_size_and_its_seed_reproduces_it(name, pair):
    hr, lr = pair
    chain = degradation(name)
    draws = [chain(hr, lr, tf.constant([7, i], tf.int64)).numpy() for i in range(4)]
    for out in draws:
        assert out.shape == (24, 24, 3) and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 255 and np.array_equal(out, np.round(out))
    assert np.array_equal(chain(hr, lr, tf.constant([7, 2], tf.int64)).numpy(), draws[2])
    if name == "bicubic":
        assert all(np.array_equal(out, lr.numpy()) for out in draws)
    else:  # random: different seeds give different LR images, all different from plain bicubic
        assert len({out.tobytes() for out in draws}) == 4
        changed = [np.abs(out - lr.numpy()).mean() > 0.3 for out in draws]
        assert all(changed) if name not in MIXTURES else any(changed)  # a mixture may draw plain bicubic


def test_chains_run_on_images_of_any_size_inside_tf_data():
    hr = random_image(np.random.default_rng(0), 62, 90)
    lr = imresize(hr, 1 / 2)
    chain = degradation("mixed", {"weights": {"realesrgan": 1, "bsrgan": 1}})
    out = chain.apply(hr, lr, (0, 1))
    assert out.shape == lr.shape and out.dtype == np.uint8
    ds = training_dataset(sample(2), batch_size=4, patch_size=12, seed=1, degradation=chain)
    lr_batch, hr_batch = next(iter(ds))
    assert lr_batch.shape == (4, 12, 12, 3) and hr_batch.shape == (4, 24, 24, 3)
    again, _ = next(iter(training_dataset(sample(2), batch_size=4, patch_size=12, seed=1, degradation=chain)))
    np.testing.assert_array_equal(lr_batch, again)  # a run's patches are reproducible


def test_jpeg_quality_controls_the_error():
    lr = tf.constant(sample(4).load(0)[0][:64, :64], tf.float32)  # a photograph (JPEG halves its colour detail)
    errors = {q: float(np.abs(jpeg(lr, q).numpy() - lr.numpy()).mean()) for q in (30, 75, 100)}
    assert errors[100] < errors[75] < errors[30]
    assert errors[30] > 2 * errors[100]  # measured 8.5 against 3.0 (q100 still subsamples the colour)


def test_blur_lowers_high_frequency_energy_and_keeps_the_mean(pair):
    hr, _ = pair
    energies = [high_frequency_energy(blur(hr, gaussian_kernel(sigma)).numpy()) for sigma in (0.5, 1.5, 3.0)]
    assert high_frequency_energy(hr.numpy()) > energies[0] > energies[1] > energies[2]
    assert abs(float(tf.reduce_mean(blur(hr, gaussian_kernel(2.0)) - hr))) < 0.5
    # Anisotropic: blurs along its long axis (θ = 0: x, the columns) more than across it.
    stripes = tf.constant(np.tile(np.array([0, 255], np.float32), (32, 16))[..., None].repeat(3, -1))
    along_x = blur(stripes, gaussian_kernel(3.0, 0.3, 0.0)).numpy()
    across = blur(tf.transpose(stripes, [1, 0, 2]), gaussian_kernel(3.0, 0.3, 0.0)).numpy()
    assert along_x[:, 8:24].std() < 10 < across[8:24, :].std()


def test_kernels_are_normalized_and_symmetric():
    seeds = _Seeds(tf.constant([0, 5], tf.int64))
    kernels = [sinc_kernel(np.pi / 3, 13), gaussian_kernel(2.0, 0.8, 0.4, 9)]
    kernels += [random_kernel(seeds, DEFAULTS["realesrgan"]["kernel_prob"], 0.5, [0.2, 3], [0.5, 4], [1, 2])
                for _ in range(10)]
    for kernel in kernels:
        k = kernel.numpy()
        assert k.shape == (21, 21) and abs(k.sum() - 1) < 1e-5
        np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-6)  # what FFT blurring assumes
    assert np.count_nonzero(kernels[1].numpy()) == 81  # a 9×9 kernel padded to 21×21


def test_noise_has_the_asked_strength():
    seeds = _Seeds(tf.constant([1, 2], tf.int64))
    flat = tf.fill([128, 128, 3], 128.0)
    noisy = gaussian_noise(flat, seeds, 10.0, tf.constant(False)).numpy() - 128
    assert noisy.std() == pytest.approx(10, rel=0.03)
    assert np.corrcoef(noisy[..., 0].ravel(), noisy[..., 1].ravel())[0, 1] < 0.05
    gray = gaussian_noise(flat, seeds, 10.0, tf.constant(True)).numpy() - 128
    assert np.array_equal(gray[..., 0], gray[..., 2])
    # Poisson noise grows with the signal (shot noise).
    dark, bright = tf.fill([128, 128, 3], 20.0), tf.fill([128, 128, 3], 220.0)
    std = [float(np.std(poisson_noise(x, seeds, 1.0, tf.constant(False)).numpy() - x.numpy())) for x in (dark, bright)]
    assert std[1] > 2 * std[0] > 0


def test_sharpening_raises_edge_contrast_and_leaves_flat_areas():
    edge = np.zeros((64, 64, 3), np.float32)
    edge[:, 32:] = 200
    edge += 20
    out = sharpen(tf.constant(edge)).numpy()
    assert out[:, 33].mean() > 220 + 10 and out[:, 30].mean() < 20 - 5  # overshoot on both sides
    np.testing.assert_allclose(out[:, :8], edge[:, :8], atol=0.5)  # far from the edge: unchanged
    flat = tf.fill([32, 32, 3], 90.0)
    np.testing.assert_allclose(sharpen(flat).numpy(), 90.0, atol=1e-3)


@pytest.mark.parametrize("spec, options, message", [
    ("foo", None, "unknown degradation 'foo'"),
    ("jpeg:150", None, "quality 1-100"),
    ("classical:75", None, "only jpeg takes an argument"),
    ("jpeg", {"jpeg_rang": [30, 90]}, "unknown option 'jpeg_rang'"),
    ("jpeg", {"jpeg_range": [90, 30]}, "jpeg_range must satisfy 1 <= low <= high <= 100"),
    ("classical", {"noise_prob": 1.5}, "noise_prob is a probability"),
    ("realesrgan", {"resize_prob": [0.5, 0.6, 0.1]}, "resize_prob must be 3 probabilities"),
    ("mixed", {"weights": {"jpeg": 1, "sepia": 1}}, "unknown chain 'sepia'"),
    ("mixed", {"jpeg": {"noise_range": [1, 2]}}, "degradation jpeg: unknown option 'noise_range'"),
])
def test_bad_options_name_what_is_wrong(spec, options, message):
    with pytest.raises(DegradationError, match=message.replace("(", r"\(").replace("[", r"\[")):
        degradation(spec, options)


def test_overrides_reach_the_chain(pair):
    hr, lr = pair
    clean = degradation("classical", {"blur_prob": 0, "noise_prob": 0, "jpeg_prob": 0})
    out = clean(hr, lr, tf.constant([0, 0], tf.int64)).numpy()
    # Only the bicubic step is left (TensorFlow's antialiased bicubic against MATLAB's: same kernel).
    assert np.abs(out - lr.numpy()).mean() < 1.0
    assert clean.describe() == 'classical {"blur_prob": 0, "jpeg_prob": 0, "noise_prob": 0}'
    fixed = degradation("jpeg:75")
    np.testing.assert_array_equal(fixed(hr, lr, tf.constant([0, 1], tf.int64)).numpy(), jpeg(lr, 75).numpy())
    mixed = degradation("mixed", {"weights": {"jpeg": 1}, "jpeg": {"jpeg_range": [75, 75]}})
    np.testing.assert_array_equal(mixed(hr, lr, tf.constant([0, 2], tf.int64)).numpy(), jpeg(lr, 75).numpy())


def test_a_degraded_set_draws_one_fixed_lr_per_image():
    source = sample(2, "valid")
    degraded = source.degraded(degradation("jpeg:75"), seed=3)
    lr, hr = degraded.load(0)
    plain_lr, plain_hr = source.load(0)
    np.testing.assert_array_equal(hr, plain_hr)
    np.testing.assert_array_equal(lr, jpeg(tf.constant(plain_lr, tf.float32), 75).numpy().astype(np.uint8))
    realistic = source.degraded(degradation("realesrgan"), seed=3)
    first = realistic.load(1)[0]
    np.testing.assert_array_equal(first, realistic.load(1)[0])
    # The draw depends on the image's name, not its position: a subset gives the same LR.
    subset = realistic.degraded(realistic.degradation, seed=3)
    subset.pairs = subset.pairs[1:]
    np.testing.assert_array_equal(subset.load(0)[0], first)
    assert image_seed("baby") == image_seed("baby") != image_seed("bird")
    assert "seed 3" in realistic.describe_input() and "realesrgan" in realistic.describe_input()
    assert source.degraded(degradation("bicubic")) is source


def test_evaluate_scores_a_degraded_protocol_and_writes_its_lr_files(tmp_path):
    from tfsr.evaluate import main
    main(["--arch", "bicubic", "--scale", "2", "--dataset", "sample", "--degradation", "jpeg:40",
          "--degradation-seed", "5", "--json", str(tmp_path / "r.json"), "--save-lr", str(tmp_path / "lr")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert "jpeg:40" in report["input"] and "seed 5" in report["input"]
    clean = main(["--arch", "bicubic", "--scale", "2", "--dataset", "sample", "--json", str(tmp_path / "c.json")])
    assert clean is None
    baseline = json.loads((tmp_path / "c.json").read_text())
    assert report["psnr"] < baseline["psnr"] - 0.5  # JPEG q40 LR costs the bicubic baseline
    written = sorted(p.name for p in (tmp_path / "lr").iterdir())
    assert written == sorted(f"{p.name}x2.png" for p in sample(2, "valid").pairs)


# ---------------------------------------------------------------- statistics over many seeds
# Each chain's draws are checked against its configured options over N seeded images: frequencies within
# 4 binomial standard deviations (a wrong probability of 0.1 or more is caught), ranges hit at both ends.

N = 600


def within(count, n, p):
    return abs(count / n - p) <= 4 * np.sqrt(p * (1 - p) / n)


def draws(chain, hr, lr, n=N):
    return [chain.apply(hr, lr, (7, i)).astype(np.float64) for i in range(n)]


@pytest.fixture(scope="module")
def textured():
    hr = random_image(np.random.default_rng(5), 64, 64)
    return hr, imresize(hr, 1 / 4)


def quality_of(lr):
    """{decoded image bytes: JPEG quality} of ``lr`` at every quality (each decodes differently)."""
    table = {jpeg(tf.constant(lr, tf.float32), q).numpy().astype(np.uint8).tobytes(): q for q in range(1, 101)}
    assert len(table) == 100
    return table


def test_jpeg_chain_draws_every_quality_of_its_range_uniformly(textured):
    hr, lr = textured
    table = quality_of(lr)
    qualities = [table[x.astype(np.uint8).tobytes()] for x in draws(degradation("jpeg"), hr, lr)]
    assert min(qualities) == 30 and max(qualities) == 95  # inclusive at both ends (66 values)
    counts = np.bincount(np.array(qualities) - 30, minlength=66)
    chi2 = float(np.sum((counts - N / 66) ** 2 / (N / 66)))
    assert chi2 < 110  # 65 degrees of freedom: p < 0.001 above 110
    narrow = [table[x.astype(np.uint8).tobytes()]
              for x in draws(degradation("jpeg", {"jpeg_range": [60, 62]}), hr, lr, n=60)]
    assert set(narrow) == {60, 61, 62}


def test_photo_mixture_draws_its_chains_by_their_weights(textured):
    hr, lr = textured
    table = quality_of(lr)
    picked = {"bicubic": 0, "jpeg": 0, "classical": 0}
    for x in draws(degradation("photo"), hr, lr):
        if np.array_equal(x, lr):
            picked["bicubic"] += 1
        elif x.astype(np.uint8).tobytes() in table:
            picked["jpeg"] += 1
        else:
            picked["classical"] += 1
    weights = DEFAULTS["photo"]["weights"]
    assert all(within(picked[name], N, weights[name]) for name in picked), picked


def test_classical_noise_levels_and_gray_share_follow_the_options():
    flat = np.full((128, 128, 3), 128.0)  # blur and resizing keep a flat image as it is
    chain = degradation("classical", {"blur_prob": 0.0, "jpeg_prob": 0.0})
    noise = [x - 128 for x in draws(chain, flat, flat[:32, :32], n=300)]
    # A rounded Gaussian of std s has variance s² + 1/12; σ is drawn uniform in noise_range [0, 15].
    sigmas = np.sqrt(np.maximum([n.var() - 1 / 12 for n in noise], 0))
    assert sigmas.min() < 0.5 and 14.0 < sigmas.max() < 15.5
    assert abs(np.mean(sigmas) - 7.5) < 4 * 15 / np.sqrt(12 * 300)
    assert np.histogram(sigmas, bins=3, range=(0, 15))[0].min() > 70  # flat, not bunched (100 expected)
    visible = [n for n, s in zip(noise, sigmas) if s > 2]
    gray = sum(np.array_equal(n[..., 0], n[..., 1]) and np.array_equal(n[..., 1], n[..., 2]) for n in visible)
    assert within(gray, len(visible), DEFAULTS["classical"]["gray_noise_prob"])
    quiet = degradation("classical", {"blur_prob": 0.0, "jpeg_prob": 0.0, "noise_range": [4, 4]})
    assert all(abs(np.std(x - 128) - 4) < 0.3 for x in draws(quiet, flat, flat[:32, :32], n=20))


def test_classical_steps_apply_by_their_probabilities(textured):
    hr, lr = textured
    # Without blur and noise the chain is an antialiased bicubic ↓ then JPEG with jpeg_prob.
    down = tf.image.resize(tf.constant(hr, tf.float32), lr.shape[:2], method="bicubic", antialias=True)
    down = np.clip(np.round(down.numpy()), 0, 255)
    table = quality_of(down)
    chain = degradation("classical", {"blur_prob": 0.0, "noise_prob": 0.0, "jpeg_prob": 0.3})
    out = draws(chain, hr, lr, n=300)
    compressed = sum(x.astype(np.uint8).tobytes() in table for x in out)
    untouched = sum(np.array_equal(x, down) for x in out)
    assert within(compressed, 300, 0.3) and compressed + untouched == 300


def test_blur_kernels_are_drawn_by_kernel_prob_and_sinc_prob():
    p = DEFAULTS["realesrgan"]
    draw = tf.function(lambda seed: random_kernel(_Seeds(seed), p["kernel_prob"], p["sinc_prob"], p["blur_sigma"],
                                                  p["betag_range"], p["betap_range"]))
    kernels = [draw(tf.constant([3, i], tf.int64)).numpy() for i in range(N)]
    sinc = sum(k.min() < -1e-6 for k in kernels)  # only the sinc kernel has negative lobes
    isotropic = sum(k.min() >= -1e-6 and np.allclose(k, k.T, atol=1e-7) for k in kernels)
    assert within(sinc, N, p["sinc_prob"])
    iso_share = sum(w for w, kind in zip(p["kernel_prob"], ("iso", "aniso") * 3) if kind == "iso")  # 0.69
    assert within(isotropic, N, (1 - p["sinc_prob"]) * iso_share)
    aniso = tf.function(lambda seed: random_kernel(_Seeds(seed), [0, 1, 0, 0, 0, 0], 0.0, [0.2, 3.0], [0.5, 4], [1, 2]))
    assert not any(np.allclose(k, k.T, atol=1e-7) for k in (aniso(tf.constant([5, i], tf.int64)).numpy()
                                                             for i in range(50)))


class StepRecorder:
    """Replaces a chain's steps with ones that write their id into a 1×16 image instead: the output then
    spells which steps ran, in which order (pixel 0 counts them, pixel 1 + i holds step i's id × 10)."""

    def __init__(self, monkeypatch, steps):
        from tfsr.data import degradations
        for name, (step_id, arguments) in steps.items():
            monkeypatch.setattr(degradations, name, self._step(step_id, arguments))

    @staticmethod
    def _step(step_id, arguments):
        def record(image, *args, **kwargs):
            ident = step_id(*args) if callable(step_id) else step_id
            count = tf.cast(image[0, 0, 0], tf.int32)
            return tf.tensor_scatter_nd_update(image, [[0, 1 + count, 0], [0, 0, 0]],
                                               tf.stack([tf.cast(ident, tf.float32) * 10, tf.cast(count + 1, tf.float32)]))
        return record

    @staticmethod
    def sequences(chain, n=N):
        flat = np.zeros((1, 16, 3))
        runs = [chain.apply(flat, flat, (11, i)).astype(int) for i in range(n)]
        return [tuple(int(v) // 10 for v in out[0, 1:1 + out[0, 0, 0], 0]) for out in runs]


def test_bsrgan_shuffles_its_five_steps_and_applies_them_by_their_probabilities(monkeypatch):
    StepRecorder(monkeypatch, {"_bsrgan_blur": (1, None), "_resize": (2, None), "gaussian_noise": (3, None),
                               "_random_jpeg": (4, None)})
    sequences = StepRecorder.sequences(degradation("bsrgan"))
    assert all(s[-2:] == (2, 4) for s in sequences)  # then the resize to LR size and the final JPEG, always
    shuffled = [s[:-2] for s in sequences]
    assert all(s.count(1) == 2 and s.count(3) == 1 for s in shuffled)  # two blurs and the noise, always
    p = DEFAULTS["bsrgan"]
    assert within(sum(s.count(2) for s in shuffled), N, p["downsample_prob"])
    assert within(sum(s.count(4) for s in shuffled), N, p["jpeg_prob"])
    complete = [s for s in shuffled if len(s) == 5]
    where = np.bincount([s.index(3) for s in complete], minlength=5)  # the noise's place: uniform over 5
    expected = len(complete) / 5
    assert float(np.sum((where - expected) ** 2 / expected)) < 18.5  # 4 degrees of freedom, p < 0.001


def test_realesrgan_runs_its_two_stages_in_order_and_ends_in_either_order(monkeypatch):
    centre = KERNEL_SIZE // 2
    StepRecorder(monkeypatch, {
        "blur": (lambda kernel: tf.where(kernel[centre, centre] == 1.0, 5, 1), None),  # 5: the identity kernel
        "_resize": (2, None), "_random_noise": (3, None), "jpeg": (4, None)})
    sequences = StepRecorder.sequences(degradation("realesrgan"))
    p = DEFAULTS["realesrgan"]
    # (A random kernel can come out as the identity too: a narrow generalized Gaussian is 1 at its centre.)
    first, rest = [tuple(1 if v == 5 else v for v in s[:4]) for s in sequences], [s[4:] for s in sequences]
    assert set(first) == {(1, 2, 3, 4)}  # blur, resize, noise, JPEG
    second_blur = [r[0] in (1, 5) for r in rest]
    assert within(sum(second_blur), N, p["second_blur_prob"])
    ends = [r[1:] if blurred else r for r, blurred in zip(rest, second_blur)]
    assert all(e[:2] == (2, 3) for e in ends)  # resize to the LR size's neighbourhood, noise
    finals = [e[2:] for e in ends]
    resize_first = [f for f in finals if f[0] == 2]
    assert all(f in ((2, 1, 4), (2, 5, 4), (4, 2, 1), (4, 2, 5)) for f in finals)
    assert within(len(resize_first), N, 0.5)
    assert within(sum(f.count(1) for f in finals), N, p["final_sinc_prob"])


def test_realesrgan_final_noise_comes_after_everything_else_by_its_probability(monkeypatch):
    StepRecorder(monkeypatch, {"blur": (1, None), "_resize": (2, None), "_random_noise": (3, None), "jpeg": (4, None)})
    sequences = StepRecorder.sequences(degradation("realesrgan", {"final_noise_prob": 0.3}))
    stage = [s[:-1] if s[-1] == 3 else s for s in sequences]
    assert all(s[-3:] in ((2, 1, 4), (4, 2, 1)) for s in stage)  # the chain as before, then the noise or not
    assert within(sum(s[-1] == 3 for s in sequences), N, 0.3)


def test_final_noise_leaves_pixel_level_colour_noise_that_the_last_jpeg_removes_otherwise():
    flat = np.full((128, 128, 3), 128, np.uint8)  # every deviation of the LR is noise

    def chroma_speckle(options):  # mean |horizontal difference| of Cb, Cr at the LR's pixels
        chain = degradation("realesrgan", options)
        outs = [chain.apply(flat, flat[::4, ::4], (i, 3)).astype(float) for i in range(40)]
        return np.mean([np.abs(np.diff(o @ np.array([[-0.169, 0.5], [-0.331, -0.419], [0.5, -0.081]]), axis=1))
                        for o in outs])

    published, noisy = chroma_speckle(None), chroma_speckle({"final_noise_prob": 1.0, "gray_noise_prob2": 0.0})
    assert published < 2.5 and noisy > 5 * published  # measured: 1.7 and 13.2
