"""Tests for minigrad/data/transforms.py against NumPy references and statistics, per device:
shapes kept, exact behaviour at p=0 / p=1, seeds repeat, mixing targets sum to one."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad
from minigrad import backend
from minigrad import functional as F
from minigrad.data import transforms as T
from minigrad.data.preprocessing import channel_stats
from minigrad.gradcheck import gradcheck


def batch(shape, device, seed=0, low=0.0, high=1.0):
    """(host array, Tensor on device) of uniform values; distinct values with probability 1."""
    host = np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)
    return host, minigrad.tensor(host, device=device)


RANDOM_TRANSFORMS = [
    T.RandomHorizontalFlip(0.5),
    T.RandomVerticalFlip(0.5),
    T.RandomCrop((5, 6), padding=2),
    T.RandomResizedCrop((5, 6)),
    T.RandomTranslation((1, 2)),
    T.RandomRotation(20),
    T.ColorJitter(0.4, 0.4),
    T.GaussianNoise(0.1),
    T.Cutout(3),
    T.RandomErasing(1.0),
    T.GridMask(2, 4),
]


@pytest.mark.parametrize("t", RANDOM_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_shape_device_and_seed(t, device):
    host, x = batch((4, 3, 5, 6), device)
    minigrad.seed(11)
    y1 = t(x)
    minigrad.seed(11)
    y2 = t(x)
    assert isinstance(y1, minigrad.Tensor) and y1.shape == x.shape
    assert y1.device == device and y1.dtype == "float32"
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    raw = t(x.data)  # raw backend arrays go in and come out too
    assert backend.is_array(raw) and tuple(raw.shape) == x.shape
    np.testing.assert_array_equal(x.numpy(), host)  # the input is not modified


def test_compose_and_bad_input(device):
    host, x = batch((2, 1, 3, 3), device)
    t = T.Compose([T.Normalize([0.5], [0.25]), T.RandomHorizontalFlip(1.0)])
    np.testing.assert_allclose(t(x).numpy(), np.flip((host - 0.5) / 0.25, -1), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) batch, got shape \(3, 3\)"):
        T.RandomCrop(2)(minigrad.tensor(np.zeros((3, 3))))
    with pytest.raises(ValueError, match="p must be in"):
        T.RandomHorizontalFlip(1.5)


# --------------------------------------------------------------------------- normalize


@given(channels=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_normalize_gives_zero_mean_unit_std(channels, seed, device):
    rng = np.random.default_rng(seed)
    host = rng.random((6, channels, 4, 5)) * rng.uniform(1, 200, channels)[:, None, None]
    host = host.astype(np.float32)
    mean, std = channel_stats(host)
    y = T.Normalize(mean, std)(minigrad.tensor(host, device=device)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-4)
    reference = (host - mean[None, :, None, None]) / std[None, :, None, None]
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5)


def test_normalize_checks():
    with pytest.raises(ValueError, match="stds > 0"):
        T.Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match="batch has 3 channels"):
        T.Normalize([0.0, 0.0], [1.0, 1.0])(np.zeros((1, 3, 2, 2), dtype=np.float32))


# --------------------------------------------------------------------------- flips


@pytest.mark.parametrize("cls,axis", [(T.RandomHorizontalFlip, -1), (T.RandomVerticalFlip, -2)])
def test_flip_probability(cls, axis, device):
    host, x = batch((2000, 1, 2, 3), device)
    np.testing.assert_array_equal(cls(0.0)(x).numpy(), host)
    np.testing.assert_array_equal(cls(1.0)(x).numpy(), np.flip(host, axis))
    y = cls(0.3)(x).numpy()
    flipped = np.all(y == np.flip(host, axis), axis=(1, 2, 3))
    kept = np.all(y == host, axis=(1, 2, 3))
    assert np.all(flipped ^ kept)  # every sample is exactly one of the two
    assert abs(flipped.mean() - 0.3) < 0.05  # binomial std is 0.01


# --------------------------------------------------------------------------- crop, translate


@given(
    h=st.integers(2, 7),
    w=st.integers(2, 7),
    pad=st.integers(0, 3),
    shrink=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_random_crop_matches_a_padded_window(h, w, pad, shrink, seed, device):
    host = np.arange(1, 6 * 2 * h * w + 1, dtype=np.float32).reshape(6, 2, h, w)
    oh, ow = max(h - shrink, 1), w
    minigrad.seed(seed)
    y = T.RandomCrop((oh, ow), padding=pad)(minigrad.tensor(host, device=device)).numpy()
    padded = np.pad(host, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    for b in range(6):
        windows = [
            padded[b, :, i : i + oh, j : j + ow]
            for i in range(h + 2 * pad - oh + 1)
            for j in range(w + 2 * pad - ow + 1)
        ]
        assert any(np.array_equal(y[b], win) for win in windows)


def test_random_crop_uses_many_offsets():
    host = np.arange(1, 1 + 400 * 16, dtype=np.float32).reshape(400, 1, 4, 4)
    y = T.RandomCrop(4, padding=1)(host)
    corner = y[:, 0, 1, 1] - host[:, 0, 1, 1]  # which input pixel moved to (1, 1)
    assert set(corner.tolist()) == {-5.0, -4.0, -3.0, -1.0, 0.0, 1.0, 3.0, 4.0, 5.0}
    np.testing.assert_array_equal(T.RandomCrop(4)(host), host)  # no padding: identity
    with pytest.raises(ValueError, match="exceeds padded input"):
        T.RandomCrop(7, padding=1)(host)


def test_random_translation(device):
    host = np.arange(1, 1 + 50 * 20, dtype=np.float32).reshape(50, 1, 4, 5)
    y = T.RandomTranslation((1, 2))(minigrad.tensor(host, device=device)).numpy()
    padded = np.pad(host, ((0, 0), (0, 0), (1, 1), (2, 2)))
    for b in range(50):
        windows = [padded[b, :, i : i + 4, j : j + 5] for i in range(3) for j in range(5)]
        assert any(np.array_equal(y[b], win) for win in windows)
    np.testing.assert_array_equal(T.RandomTranslation(0)(host), host)


# --------------------------------------------------------------------------- resized crop


def test_random_resized_crop_shape_and_seed(device):
    host, x = batch((6, 3, 9, 7), device, seed=2)
    t = T.RandomResizedCrop((4, 5), scale=(0.2, 0.9))
    minigrad.seed(5)
    y1 = t(x)
    minigrad.seed(5)
    y2 = t(x)
    y3 = t(x)
    assert y1.shape == (6, 3, 4, 5) and y1.device == device and y1.dtype == "float32"
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    assert not np.array_equal(y2.numpy(), y3.numpy())  # a new draw without the same seed
    np.testing.assert_array_equal(x.numpy(), host)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_resized_crop_at_full_scale_and_square_ratio_is_the_identity(interpolation, device):
    host, x = batch((5, 2, 8, 8), device, seed=3)
    t = T.RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(1.0, 1.0), interpolation=interpolation)
    np.testing.assert_array_equal(t(x).numpy(), host)


@pytest.mark.parametrize("interpolation, mode", [("bilinear", "bilinear"), ("nearest", "nearest")])
def test_random_resized_crop_resizes_each_box_as_interpolate_does(interpolation, mode, device):
    host, x = batch((3, 2, 9, 10), device, seed=4)
    t = T.RandomResizedCrop((6, 5), interpolation=interpolation)
    minigrad.seed(6)
    top, left, height, width = t._boxes(3, 9, 10)
    minigrad.seed(6)
    y = t(x).numpy()
    for b in range(3):
        crop = host[b : b + 1, :, top[b] : top[b] + height[b], left[b] : left[b] + width[b]]
        assert 0.08 * 90 - 1e-9 <= height[b] * width[b] <= 90 * 1.3  # rounding of the sides
        expected = F.interpolate(minigrad.tensor(crop), size=(6, 5), mode=mode).numpy()
        np.testing.assert_allclose(y[b : b + 1], expected, rtol=1e-5, atol=1e-6)


def test_random_resized_crop_falls_back_to_a_centre_crop():
    t = T.RandomResizedCrop(4, scale=(1.0, 1.0), ratio=(2.0, 2.0))  # never fits an 8 x 8 image
    assert [v.tolist() for v in t._boxes(2, 8, 8)] == [[2, 2], [0, 0], [4, 4], [8, 8]]
    with pytest.raises(ValueError, match="scale"):
        T.RandomResizedCrop(4, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="ratio"):
        T.RandomResizedCrop(4, ratio=(0, 1))
    with pytest.raises(ValueError, match="interpolation must be 'bilinear' or 'nearest'"):
        T.RandomResizedCrop(4, interpolation="bicubic")


# --------------------------------------------------------------------------- rotation


def rotate_reference(image, degrees):
    """Per-pixel bilinear sampling of one (H, W) image, zero outside; counter-clockwise."""
    h, w = image.shape
    t = np.deg2rad(degrees)
    out = np.zeros_like(image, dtype=np.float64)
    for y in range(h):
        for x in range(w):
            dy, dx = y - (h - 1) / 2, x - (w - 1) / 2
            sx = np.cos(t) * dx - np.sin(t) * dy + (w - 1) / 2
            sy = np.sin(t) * dx + np.cos(t) * dy + (h - 1) / 2
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            for yy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
                for xx, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
                    if 0 <= yy < h and 0 <= xx < w:
                        out[y, x] += wy * wx * image[yy, xx]
    return out


def test_rotation(device):
    host, x = batch((3, 2, 5, 6), device)
    angles = [0.0, 30.0, -12.5]
    y = T.RandomRotation(45).apply(x.data, angles=angles)
    y = backend.to_host(y)
    np.testing.assert_array_equal(y[0], host[0])  # 0 degrees is exact
    for b in (1, 2):
        for c in range(2):
            np.testing.assert_allclose(y[b, c], rotate_reference(host[b, c], angles[b]), atol=1e-5)
    square, xs = batch((2, 1, 4, 4), device)
    turned = backend.to_host(T.RandomRotation(90).apply(xs.data, angles=[90.0, 90.0]))
    np.testing.assert_allclose(turned, np.rot90(square, 1, axes=(2, 3)), atol=1e-5)


# --------------------------------------------------------------------------- photometric


def test_color_jitter(device):
    host, x = batch((200, 1, 4, 4), device, low=0.2, high=0.4)
    np.testing.assert_array_equal(T.ColorJitter(0, 0)(x).numpy(), host)
    y = T.ColorJitter(brightness=0.5)(x).numpy()
    ratio = y / host
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :1] * np.ones_like(ratio), rtol=1e-5)
    assert ratio.min() >= 0.5 - 1e-6 and ratio.max() <= 1.5 + 1e-6
    assert ratio[:, 0, 0, 0].std() > 0.2  # factors are drawn per sample (uniform std 0.29)
    y = T.ColorJitter(contrast=0.5)(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), host.mean(axis=(1, 2, 3)), atol=1e-6)
    # each sample's deviations from its mean are scaled by one factor: fit it by least squares
    # and compare the deviations themselves (a ratio of float32 deviations near 0 is unstable)
    before = host - host.mean(axis=(2, 3), keepdims=True)
    after = y - y.mean(axis=(2, 3), keepdims=True)
    factor = (after * before).sum(axis=(1, 2, 3)) / (before * before).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(after, factor[:, None, None, None] * before, rtol=0, atol=3e-7)
    assert factor.min() >= 0.5 - 1e-4 and factor.max() <= 1.5 + 1e-4 and factor.std() > 0.2


def test_color_jitter_rgb_contrast_uses_luma(device):
    host, x = batch((3, 3, 4, 4), device, low=0.3, high=0.5)
    minigrad.seed(0)
    y = T.ColorJitter(contrast=0.5)(x).numpy()
    grey = (0.299 * host[:, 0] + 0.587 * host[:, 1] + 0.114 * host[:, 2]).mean(axis=(1, 2))
    factor = (y - grey[:, None, None, None]) / (host - grey[:, None, None, None])
    np.testing.assert_allclose(factor, factor[:, :1, :1, :1] * np.ones_like(factor), rtol=1e-3)


def test_gaussian_noise(device):
    host, x = batch((64, 1, 16, 16), device)
    noise = T.GaussianNoise(0.2)(x).numpy() - host
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.2) < 0.01
    np.testing.assert_array_equal(T.GaussianNoise(0.0)(x).numpy(), host)


# --------------------------------------------------------------------------- occlusion


def erased_boxes(y):
    """Per sample of an all-ones input: (number of zeros, whether they form one rectangle)."""
    out = []
    for sample in y[:, 0]:
        rows, cols = np.nonzero(sample == 0)
        if rows.size == 0:
            out.append((0, True))
            continue
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        out.append((rows.size, box == rows.size))
    return out


def test_cutout(device):
    x = minigrad.ones((300, 2, 8, 8), device=device)
    y = T.Cutout(4)(x).numpy()
    np.testing.assert_array_equal(y[:, 0], y[:, 1])  # one box for all channels
    boxes = erased_boxes(y)
    assert all(rect and 4 <= n <= 16 for n, rect in boxes)
    assert sum(n == 16 for n, _ in boxes) > 50  # whole squares away from the border
    np.testing.assert_array_equal(T.Cutout(4, p=0.0)(x).numpy(), 1)


def test_random_erasing(device):
    x = minigrad.ones((300, 1, 10, 10), device=device)
    y = T.RandomErasing(p=1.0, scale=(0.1, 0.3), ratio=(0.5, 2.0), value=0.0)(x).numpy()
    boxes = erased_boxes(y)
    assert all(rect for _, rect in boxes)
    areas = np.array([n for n, _ in boxes])
    assert areas.min() >= 5 and areas.max() <= 40  # 10..30 pixels, up to rounding
    half = T.RandomErasing(p=0.5, value=0.0)(x).numpy()
    assert abs((half.min(axis=(1, 2, 3)) == 0).mean() - 0.5) < 0.1
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(x).numpy(), 1)
    filled = T.RandomErasing(p=1.0, value=7.0)(x).numpy()
    assert set(np.unique(filled).tolist()) == {1.0, 7.0}


def test_gridmask(device):
    x = minigrad.ones((100, 1, 24, 24), device=device)
    y = T.GridMask(4, 4, ratio=0.5)(x).numpy()
    # period 4, squares of side 2: exactly a quarter of the pixels, periodic in both axes
    np.testing.assert_array_equal((y == 0).mean(axis=(1, 2, 3)), 0.25)
    np.testing.assert_array_equal(y[:, :, 4:, :], y[:, :, :-4, :])
    np.testing.assert_array_equal(y[:, :, :, 4:], y[:, :, :, :-4])
    np.testing.assert_array_equal(T.GridMask(4, 8, p=0.0)(x).numpy(), 1)


# --------------------------------------------------------------------------- mixing


def mixing_inputs(device, b=16):
    host = np.random.default_rng(1).random((b, 2, 6, 6)).astype(np.float32)
    return host, minigrad.tensor(host, device=device), np.arange(b)


def partner_and_weight(soft):
    """For labels y = arange(B): soft[b] = lam at b and 1 - lam at perm[b] (or 1 if equal)."""
    own = np.diag(soft)
    others = soft - np.diag(own)
    return np.argmax(others, axis=1), own


def test_mixup(device):
    host, x, y = mixing_inputs(device)
    minigrad.seed(3)
    mixed, soft = T.mixup(x, y, alpha=0.4, num_classes=16)
    mixed, soft = mixed.numpy(), soft.numpy()
    np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)
    partner, lam = partner_and_weight(soft)
    moved = lam < 1
    assert moved.sum() > 10 and np.allclose(lam[moved], lam[moved][0])  # one lam per batch
    reference = lam[:, None, None, None] * host + (1 - lam[:, None, None, None]) * host[partner]
    np.testing.assert_allclose(mixed[moved], reference[moved], rtol=1e-5, atol=1e-6)


def test_cutmix_area_matches_lambda(device):
    host = np.arange(16, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 10, 10))
    x = minigrad.tensor(host.astype(np.float32), device=device)
    for seed in range(5):
        minigrad.seed(seed)
        mixed, soft = T.cutmix(x, np.arange(16), alpha=1.0, num_classes=16)
        mixed, soft = mixed.numpy(), soft.numpy()
        np.testing.assert_allclose(soft.sum(axis=1), 1, rtol=1e-6)
        partner, lam = partner_and_weight(soft)
        for b in np.nonzero(lam < 1)[0]:
            pasted = (mixed[b] == partner[b]).mean()
            np.testing.assert_allclose(pasted, 1 - lam[b], rtol=1e-6)
            assert np.all((mixed[b] == b) | (mixed[b] == partner[b]))


def test_mixing_checks(device):
    _, x, y = mixing_inputs(device, b=4)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        T.mixup(x, y, alpha=0.0, num_classes=4)
    with pytest.raises(ValueError, match="needs num_classes"):
        T.cutmix(x, y)
    with pytest.raises(ValueError, match="4 images but 3 targets"):
        T.mixup(x, y[:3], num_classes=4)
    soft = np.eye(4, dtype=np.float32)  # soft targets pass straight through
    np.testing.assert_allclose(T.mixup(x, soft)[1].numpy().sum(axis=1), 1, rtol=1e-6)


def log_softmax_ref(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_mixed_cross_entropy(device):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4))
    target = rng.dirichlet(np.ones(4), size=5)
    loss = T.mixed_cross_entropy(minigrad.tensor(logits, device=device), target)
    expected = -(target * log_softmax_ref(logits)).sum(axis=1).mean()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-10)
    t = minigrad.tensor(target, device=device)
    gradcheck(lambda z: T.mixed_cross_entropy(z, t), [logits], device=device)


def test_tta_predict(device):
    host, x = batch((3, 1, 2, 4), device)
    w = np.random.default_rng(2).normal(size=(8, 5))
    weight = minigrad.tensor(w.astype(np.float32), device=device)

    def model(inp):
        return inp.reshape(3, 8) @ weight

    probs = T.tta_predict(model, x).numpy()
    logits = [host.reshape(3, 8) @ w, np.flip(host, -1).reshape(3, 8) @ w]
    expected = np.mean([np.exp(log_softmax_ref(z)) for z in logits], axis=0)
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    only = T.tta_predict(model, x, transforms=[T.vflip]).numpy()
    flipped = np.flip(host, -2).reshape(3, 8) @ w
    np.testing.assert_allclose(only, np.exp(log_softmax_ref(flipped)), rtol=1e-4, atol=1e-6)


@given(dy=st.integers(-5, 5), dx=st.integers(-5, 5))
def test_translate_moves_pixels_and_fills_the_rest(dy, dx):
    host = np.random.default_rng(3).normal(size=(2, 3, 4, 5)).astype(np.float32)
    out = T.translate(minigrad.tensor(host), dy, dx, fill=-7.0).numpy()
    expected = np.full_like(host, -7.0)
    for i in range(4):
        for j in range(5):
            if 0 <= i - dy < 4 and 0 <= j - dx < 5:
                expected[..., i, j] = host[..., i - dy, j - dx]
    np.testing.assert_array_equal(out, expected)
    assert isinstance(T.translate(host, dy, dx), np.ndarray)  # arrays in, arrays out


def test_translate_on_device_and_bad_shifts(device):
    host, x = batch((1, 1, 3, 3), device)
    np.testing.assert_array_equal(T.translate(x, 1, 0).numpy()[0, 0, 1:], host[0, 0, :2])
    with pytest.raises(TypeError, match="whole pixels"):
        T.translate(x, 0.5, 0)
