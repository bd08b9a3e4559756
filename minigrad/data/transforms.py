"""Batch transforms on (B, C, H, W) image batches, computed on the batch's own device.
Read loader.py before this file; preprocessing.py holds the host-side (fit on data) steps.

Every transform takes a Tensor or a backend array and returns the same kind, without a graph
(augmentation is input preparation, not part of the model). Device randomness comes from
minigrad's seeded generators (`minigrad.seed(n)` makes a run repeat); small per-sample integers
(crop offsets, box corners) are drawn on the host and moved over once.
"""

import math
import numbers

import numpy as np

from minigrad import backend
from minigrad import functional as F  # noqa: N812
from minigrad.functional.resize import resize_matrix
from minigrad.functional.windows import ntuple
from minigrad.tensor import Tensor, no_grad

# --------------------------------------------------------------------------- helpers


def _unwrap(x, name):
    """(backend array of a (B, C, H, W) batch, whether x was a Tensor)."""
    a = x.data if isinstance(x, Tensor) else x
    if not backend.is_array(a):
        raise TypeError(f"{name}: expected a Tensor or array batch, got {type(x).__name__}")
    if a.ndim != 4:
        raise ValueError(f"{name}: expected a (B, C, H, W) batch, got shape {tuple(a.shape)}")
    return a, isinstance(x, Tensor)


def _wrap(a, as_tensor):
    return Tensor(a) if as_tensor else a


def _on(host, like, dtype=None):
    """Host values moved to the device of array `like` (one transfer)."""
    return backend.to_device(np.asarray(host), backend.device_of(like), dtype=dtype)


def _per_sample(values, like):
    """Host ints (B,) as a (B, 1, 1, 1) int64 array on `like`'s device, to broadcast."""
    return backend.xp_of(like).reshape(_on(values, like, "int64"), (-1, 1, 1, 1))


def _rand(shape, like):
    """Uniform [0, 1) on `like`'s device (its dtype if float, else float32), seeded."""
    name = backend.dtype_name(like.dtype)
    name = name if name.startswith("float") else "float32"
    return backend.rand(shape, backend.device_of(like), name)


def _check_prob(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be in [0, 1], got {p}")


def _pair(value, name, owner):
    """(a, b) from one number or a pair of numbers."""
    return ntuple(value, 2, name, owner, number=numbers.Real)


def _shift_matrix(offsets, n_out, n_in, like):
    """(B, 1, n_out, n_in) 0/1 matrices M with M[b, 0, i, i + offsets[b]] = 1.

    M @ x picks input row i + offset for output row i; rows whose source falls outside the
    image are all zero, which is zero padding for free."""
    xp = backend.xp_of(like)
    dev = like.device
    off = _per_sample(offsets, like)
    i = xp.reshape(xp.arange(n_out, dtype=xp.int64, device=dev), (1, 1, -1, 1))
    k = xp.reshape(xp.arange(n_in, dtype=xp.int64, device=dev), (1, 1, 1, -1))
    return xp.astype(k == i + off, like.dtype)


def _shift_crop(a, top, left, out_h, out_w):
    """out[b, :, i, j] = a[b, :, i + top[b], j + left[b]] (zero outside): two small GEMMs."""
    xp = backend.xp_of(a)
    rows = _shift_matrix(top, out_h, a.shape[2], a)  # (B, 1, OH, H)
    cols = _shift_matrix(left, out_w, a.shape[3], a)  # (B, 1, OW, W)
    return xp.matmul(xp.matmul(rows, a), xp.matrix_transpose(cols))


def _box_mask(top, left, height, width, like):
    """(B, 1, H, W) float mask, 1 inside each sample's box rows [top, top+height) x cols."""
    xp = backend.xp_of(like)
    dev = like.device
    _, _, h, w = like.shape
    top, left = _per_sample(top, like), _per_sample(left, like)
    bottom, right = top + _per_sample(height, like), left + _per_sample(width, like)
    r = xp.reshape(xp.arange(h, dtype=xp.int64, device=dev), (1, 1, -1, 1))
    c = xp.reshape(xp.arange(w, dtype=xp.int64, device=dev), (1, 1, 1, -1))
    inside_r = (r >= top) & (r < bottom)
    inside_c = (c >= left) & (c < right)
    return xp.astype(inside_r & inside_c, like.dtype)


def _random_box_sides(b, image_area, scale, ratio, tries):
    """(B, tries) int sides of random boxes: side_a * side_b is a fraction in `scale` of the
    image area and side_a / side_b is log-uniform in `ratio` (RandomErasing, RandomResizedCrop)."""
    rng = backend.host_rng()
    area = image_area * rng.uniform(*scale, size=(b, tries))
    aspect = np.exp(rng.uniform(*np.log(ratio), size=(b, tries)))
    side_a = np.round(np.sqrt(area * aspect)).astype(np.int64)
    side_b = np.round(np.sqrt(area / aspect)).astype(np.int64)
    return side_a, side_b


def hflip(x):
    """Mirror left-right (last axis)."""
    a, as_tensor = _unwrap(x, "hflip")
    return _wrap(backend.xp_of(a).flip(a, axis=-1), as_tensor)


def vflip(x):
    """Mirror top-bottom (axis -2)."""
    a, as_tensor = _unwrap(x, "vflip")
    return _wrap(backend.xp_of(a).flip(a, axis=-2), as_tensor)


def translate(x, dy, dx, fill=0.0):
    """Move the picture dy pixels down and dx right (negative: up, left): out[..., i, j] =
    x[..., i - dy, j - dx], and `fill` where that falls outside x. A test-time view for
    tta_predict; pass as fill the value of the background after normalisation."""
    a, as_tensor = _unwrap(x, "translate")
    if not all(isinstance(v, numbers.Integral) for v in (dy, dx)):
        raise TypeError(f"translate: dy and dx must be whole pixels, got {dy!r}, {dx!r}")
    xp = backend.xp_of(a)
    h, w = a.shape[-2:]
    out = xp.full(a.shape, fill, dtype=a.dtype, device=a.device)
    if abs(dy) < h and abs(dx) < w:
        target = (..., slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0)))
        source = (..., slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0)))
        out[target] = a[source]
    return _wrap(out, as_tensor)


# --------------------------------------------------------------------------- deterministic


class BatchTransform:
    """Base: __call__ unwraps the batch, `apply(array)` does the work on its device."""

    def __call__(self, x):
        a, as_tensor = _unwrap(x, type(self).__name__)
        return _wrap(self.apply(a), as_tensor)

    def apply(self, a):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply the transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class Normalize(BatchTransform):
    """y = (x - mean[c]) / std[c] per channel (e.g. from preprocessing.channel_stats)."""

    def __init__(self, mean, std):
        self.mean = tuple(float(m) for m in np.ravel(mean))
        self.std = tuple(float(s) for s in np.ravel(std))
        if len(self.mean) != len(self.std) or min(self.std) <= 0:
            raise ValueError(f"Normalize: need equally many means and stds > 0, got {self}")

    def apply(self, a):
        if a.shape[1] != len(self.mean) and len(self.mean) != 1:
            raise ValueError(f"Normalize: batch has {a.shape[1]} channels, mean {self.mean}")
        xp = backend.xp_of(a)
        mean = xp.reshape(_on(self.mean, a, backend.dtype_name(a.dtype)), (1, -1, 1, 1))
        std = xp.reshape(_on(self.std, a, backend.dtype_name(a.dtype)), (1, -1, 1, 1))
        return (a - mean) / std


# --------------------------------------------------------------------------- geometric


class RandomHorizontalFlip(BatchTransform):
    """Mirror each sample left-right with probability p (an independent draw per sample)."""

    flip_axis = -1

    def __init__(self, p=0.5):
        _check_prob(p, type(self).__name__)
        self.p = p

    def apply(self, a):
        xp = backend.xp_of(a)
        chosen = _rand((a.shape[0], 1, 1, 1), a) < self.p
        return xp.where(chosen, xp.flip(a, axis=self.flip_axis), a)


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror each sample top-bottom with probability p."""

    flip_axis = -2


class RandomCrop(BatchTransform):
    """Zero-pad by `padding`, then cut a size x size window at a random place per sample.

    Done as out = R_b @ x_b @ C_b^T with 0/1 row/column selectors (no padded copy, one
    code path on every device; exact, since each output sums one input times 1)."""

    def __init__(self, size, padding=0):
        self.size = _pair(size, "size", "RandomCrop")
        self.padding = _pair(padding, "padding", "RandomCrop")
        if min(self.size) < 1 or min(self.padding) < 0:
            raise ValueError(f"RandomCrop: need size >= 1, padding >= 0, got {self}")

    def apply(self, a):
        (oh, ow), (ph, pw) = self.size, self.padding
        b, _, h, w = a.shape
        if oh > h + 2 * ph or ow > w + 2 * pw:
            raise ValueError(f"RandomCrop: size {self.size} exceeds padded input {(h, w)}")
        rng = backend.host_rng()
        top = rng.integers(0, h + 2 * ph - oh + 1, size=b) - ph
        left = rng.integers(0, w + 2 * pw - ow + 1, size=b) - pw
        return _shift_crop(a, top, left, oh, ow)


class RandomTranslation(BatchTransform):
    """Shift each sample by whole pixels, up to max_shift (int or (dy, dx)); zeros flow in."""

    def __init__(self, max_shift):
        self.max_shift = _pair(max_shift, "max_shift", "RandomTranslation")
        if min(self.max_shift) < 0:
            raise ValueError(f"RandomTranslation: max_shift must be >= 0, got {max_shift}")

    def apply(self, a):
        (my, mx), (b, _, h, w) = self.max_shift, a.shape
        rng = backend.host_rng()
        dy = rng.integers(-my, my + 1, size=b)
        dx = rng.integers(-mx, mx + 1, size=b)
        return _shift_crop(a, -dy, -dx, h, w)


def _window_resizers(starts, lengths, in_size, out_size, mode, like):
    """(B, 1, out_size, in_size) matrices: sample b's maps the window [start, start + length)
    of an axis onto out_size positions, as F.interpolate(size=out_size) resizes it."""
    m = np.zeros((len(starts), 1, out_size, in_size))
    for b, (start, length) in enumerate(zip(starts, lengths)):
        m[b, 0, :, start : start + length] = resize_matrix(int(length), out_size, mode)
    return _on(m, like, backend.dtype_name(like.dtype))


class RandomResizedCrop(BatchTransform):
    """Scale augmentation (Szegedy et al. 2015, torchvision's RandomResizedCrop): per sample, a
    box covering a fraction in `scale` of the image with aspect w/h in `ratio` (log-uniform;
    10 tries, then the centre crop of the nearest allowed aspect), resized to `size`.

    Each sample is out = R_b @ x_b @ C_b^T with the resize matrices of F.interpolate
    (interpolation "bilinear" or "nearest"; no antialiasing, align_corners=False)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear"):
        self.size = _pair(size, "size", "RandomResizedCrop")
        self.scale = _pair(scale, "scale", "RandomResizedCrop")
        self.ratio = _pair(ratio, "ratio", "RandomResizedCrop")
        self.interpolation = interpolation
        if min(self.size) < 1 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(
                f"RandomResizedCrop: need size >= 1 and 0 < scale[0] <= scale[1], got {self}"
            )
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"RandomResizedCrop: need 0 < ratio[0] <= ratio[1], got {self}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                "RandomResizedCrop: interpolation must be 'bilinear' or 'nearest', "
                f"got {interpolation!r}"
            )

    def _boxes(self, b, h, w, tries=10):
        """(top, left, height, width) per sample, drawn as torchvision draws them."""
        rng = backend.host_rng()
        bw, bh = _random_box_sides(b, h * w, self.scale, self.ratio, tries)  # ratio is w / h
        fits = (bw > 0) & (bw <= w) & (bh > 0) & (bh <= h)
        first = np.argmax(fits, axis=1)  # the first try that fits
        rows = np.arange(b)
        ch, cw = self._centre_box(h, w)
        bh = np.where(fits[rows, first], bh[rows, first], ch)
        bw = np.where(fits[rows, first], bw[rows, first], cw)
        top = np.where(fits[rows, first], rng.integers(0, h - bh + 1), (h - ch) // 2)
        left = np.where(fits[rows, first], rng.integers(0, w - bw + 1), (w - cw) // 2)
        return top, left, bh, bw

    def _centre_box(self, h, w):
        """The fallback: the whole image, trimmed to the nearest aspect in `ratio`."""
        if w / h < self.ratio[0]:
            return int(round(w / self.ratio[0])), w
        if w / h > self.ratio[1]:
            return h, int(round(h * self.ratio[1]))
        return h, w

    def apply(self, a, boxes=None):
        """`boxes` (top, left, height, width), each (B,), overrides the random draw (for tests)."""
        xp = backend.xp_of(a)
        b, _, h, w = a.shape
        top, left, bh, bw = boxes if boxes is not None else self._boxes(b, h, w)
        mode = "linear" if self.interpolation == "bilinear" else "nearest"
        rows = _window_resizers(top, bh, h, self.size[0], mode, a)  # (B, 1, OH, H)
        cols = _window_resizers(left, bw, w, self.size[1], mode, a)  # (B, 1, OW, W)
        return xp.matmul(xp.matmul(rows, a), xp.matrix_transpose(cols))


def _bilinear_gather(a, ys, xs):
    """a sampled at float coordinates ys, xs (B, H, W) bilinearly; zero outside the image."""
    xp = backend.xp_of(a)
    b, c, h, w = a.shape
    flat = xp.reshape(xp.permute_dims(a, (1, 0, 2, 3)), (c, -1))  # (C, B*H*W)
    base = xp.reshape(xp.arange(b, dtype=xp.int64, device=a.device) * (h * w), (-1, 1, 1))
    y0, x0 = xp.floor(ys), xp.floor(xs)
    out = xp.zeros((c, b * h * w), dtype=a.dtype, device=a.device)
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            weight = (1 - xp.abs(ys - yi)) * (1 - xp.abs(xs - xi))
            valid = (yi >= 0) & (yi <= h - 1) & (xi >= 0) & (xi <= w - 1)
            weight = xp.reshape(weight * xp.astype(valid, a.dtype), (1, -1))
            yi = xp.astype(xp.clip(yi, 0, h - 1), xp.int64)
            xi = xp.astype(xp.clip(xi, 0, w - 1), xp.int64)
            index = xp.reshape(base + yi * w + xi, (-1,))
            out = out + xp.take(flat, index, axis=1) * weight
    return xp.permute_dims(xp.reshape(out, (c, b, h, w)), (1, 0, 2, 3))


class RandomRotation(BatchTransform):
    """Rotate each sample counter-clockwise by an angle drawn from [-degrees, degrees]
    (or [lo, hi]) about the image centre, with bilinear sampling; zeros fill the corners."""

    def __init__(self, degrees):
        if isinstance(degrees, (tuple, list)):
            self.degrees = _pair(degrees, "degrees", "RandomRotation")
        else:
            self.degrees = (-abs(degrees), abs(degrees))
        if self.degrees[0] > self.degrees[1]:
            raise ValueError(f"RandomRotation: degrees range {self.degrees} is empty")

    def apply(self, a, angles=None):
        """`angles` (B,) in degrees overrides the random draw (for tests)."""
        xp = backend.xp_of(a)
        b, _, h, w = a.shape
        if angles is None:
            angles = backend.host_rng().uniform(*self.degrees, size=b)
        theta = np.deg2rad(np.asarray(angles, dtype=np.float64))
        dt = backend.dtype_name(a.dtype)
        cos = xp.reshape(_on(np.cos(theta), a, dt), (-1, 1, 1))
        sin = xp.reshape(_on(np.sin(theta), a, dt), (-1, 1, 1))
        # output pixel (y, x) reads input at the inverse rotation of its offset from the centre
        # (image y points down, so a counter-clockwise turn has these signs)
        yy = xp.reshape(xp.arange(h, dtype=a.dtype, device=a.device), (1, -1, 1)) - (h - 1) / 2
        xx = xp.reshape(xp.arange(w, dtype=a.dtype, device=a.device), (1, 1, -1)) - (w - 1) / 2
        xs = cos * xx - sin * yy + (w - 1) / 2
        ys = sin * xx + cos * yy + (h - 1) / 2
        return _bilinear_gather(a, ys, xs)


# --------------------------------------------------------------------------- photometric


class ColorJitter(BatchTransform):
    """Per sample: scale brightness by U[max(0, 1-b), 1+b], then contrast by U[max(0, 1-c), 1+c]
    about the image's mean grey level; clamped to [0, 1] (use before Normalize)."""

    def __init__(self, brightness=0.0, contrast=0.0):
        if brightness < 0 or contrast < 0:
            raise ValueError(f"ColorJitter: factors must be >= 0, got {brightness}, {contrast}")
        self.brightness = brightness
        self.contrast = contrast

    def _factors(self, amount, a):
        lo = max(0.0, 1.0 - amount)
        return lo + (1.0 + amount - lo) * _rand((a.shape[0], 1, 1, 1), a)

    def apply(self, a):
        xp = backend.xp_of(a)
        if self.brightness > 0:
            a = xp.clip(a * self._factors(self.brightness, a), 0.0, 1.0)
        if self.contrast > 0:
            grey = a
            if a.shape[1] == 3:  # ITU-R 601 luma, as in torchvision's rgb_to_grayscale
                grey = 0.299 * a[:, 0:1, ...] + 0.587 * a[:, 1:2, ...] + 0.114 * a[:, 2:3, ...]
            mean = xp.mean(grey, axis=(1, 2, 3), keepdims=True)
            a = xp.clip((a - mean) * self._factors(self.contrast, a) + mean, 0.0, 1.0)
        return a


class GaussianNoise(BatchTransform):
    """y = x + std * N(0, 1), drawn on the batch's device."""

    def __init__(self, std=0.1):
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std = std

    def apply(self, a):
        noise = backend.randn(a.shape, backend.device_of(a), backend.dtype_name(a.dtype))
        return a + self.std * noise


# --------------------------------------------------------------------------- occlusion


class Cutout(BatchTransform):
    """Zero one size x size square per sample, centred anywhere in the image and clipped at
    the border (DeVries & Taylor 2017, "Improved regularization ... with Cutout")."""

    def __init__(self, size, p=1.0):
        if size < 1:
            raise ValueError(f"Cutout: size must be >= 1, got {size}")
        _check_prob(p, "Cutout")
        self.size = int(size)
        self.p = p

    def apply(self, a):
        b, _, h, w = a.shape
        rng = backend.host_rng()
        cy, cx = rng.integers(0, h, size=b), rng.integers(0, w, size=b)
        top = np.clip(cy - self.size // 2, 0, h)
        left = np.clip(cx - self.size // 2, 0, w)
        side = (rng.random(b) < self.p) * self.size
        height = np.clip(cy - self.size // 2 + side, 0, h) - top
        width = np.clip(cx - self.size // 2 + side, 0, w) - left
        return a * (1 - _box_mask(top, left, height, width, a))


class RandomErasing(BatchTransform):
    """With probability p per sample, set a random box to `value`: its area is a fraction in
    `scale` of the image and its aspect h/w in `ratio` (log-uniform); Zhong et al. 2017."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0):
        _check_prob(p, "RandomErasing")
        if not (0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomErasing: bad scale {scale} or ratio {ratio}")
        self.p, self.scale, self.ratio, self.value = p, tuple(scale), tuple(ratio), value

    def _boxes(self, b, h, w, tries=10):
        """(top, left, height, width) per sample; height 0 where nothing is erased."""
        rng = backend.host_rng()
        bh, bw = _random_box_sides(b, h * w, self.scale, self.ratio, tries)  # ratio is h / w
        fits = (bh < h) & (bw < w) & (bh > 0) & (bw > 0)
        first = np.argmax(fits, axis=1)  # the first try that fits, as torchvision retries
        rows = np.arange(b)
        keep = fits[rows, first] & (rng.random(b) < self.p)
        bh, bw = bh[rows, first] * keep, bw[rows, first] * keep
        top = rng.integers(0, h - bh + 1)
        left = rng.integers(0, w - bw + 1)
        return top, left, bh, bw

    def apply(self, a):
        b, _, h, w = a.shape
        mask = _box_mask(*self._boxes(b, h, w), a)
        return a * (1 - mask) + self.value * mask


class GridMask(BatchTransform):
    """Drop a grid of squares (Chen et al. 2020, "GridMask Data Augmentation"): per sample a
    period d in [d_min, d_max] and offsets in [0, d); squares of side ceil(ratio * d) at every
    period in both directions are zeroed. Applied to each sample with probability p."""

    def __init__(self, d_min, d_max, ratio=0.5, p=1.0):
        if not 1 <= d_min <= d_max or not 0 < ratio < 1:
            raise ValueError(
                f"GridMask: need 1 <= d_min <= d_max and 0 < ratio < 1, "
                f"got d_min={d_min}, d_max={d_max}, ratio={ratio}"
            )
        _check_prob(p, "GridMask")
        self.d_min, self.d_max, self.ratio, self.p = d_min, d_max, ratio, p

    def apply(self, a):
        xp = backend.xp_of(a)
        b, _, h, w = a.shape
        rng = backend.host_rng()
        d = rng.integers(self.d_min, self.d_max + 1, size=b)
        side = np.ceil(self.ratio * d).astype(np.int64) * (rng.random(b) < self.p)
        period, side = _per_sample(d, a), _per_sample(side, a)
        r = xp.reshape(xp.arange(h, dtype=xp.int64, device=a.device), (1, 1, -1, 1))
        c = xp.reshape(xp.arange(w, dtype=xp.int64, device=a.device), (1, 1, 1, -1))
        in_r = xp.remainder(r + _per_sample(rng.integers(0, d), a), period) < side
        in_c = xp.remainder(c + _per_sample(rng.integers(0, d), a), period) < side
        return a * (1 - xp.astype(in_r & in_c, a.dtype))


# --------------------------------------------------------------------------- mixing


def _one_hot(y, num_classes, like):
    """(B, K) float targets from int labels (B,) or pass soft targets (B, K) through."""
    xp = backend.xp_of(like)
    y = y.data if isinstance(y, Tensor) else backend.to_device(y, backend.device_of(like))
    if y.ndim == 2:
        return xp.astype(y, like.dtype)
    if num_classes is None:
        raise ValueError("mixing integer labels needs num_classes")
    classes = xp.arange(num_classes, dtype=y.dtype, device=like.device)
    return xp.astype(y[:, None] == classes[None, :], like.dtype)


def _mix_setup(x, y, alpha, num_classes, name):
    """Shared by mixup and cutmix: batch, soft targets, lambda ~ Beta(alpha, alpha), perm."""
    if alpha <= 0:
        raise ValueError(f"{name}: alpha must be > 0, got {alpha}")
    a, as_tensor = _unwrap(x, name)
    target = _one_hot(y, num_classes, a)
    if target.shape[0] != a.shape[0]:
        raise ValueError(f"{name}: {a.shape[0]} images but {target.shape[0]} targets")
    rng = backend.host_rng()
    lam = float(rng.beta(alpha, alpha))
    perm = _on(rng.permutation(a.shape[0]), a, "int64")
    return a, as_tensor, target, lam, perm


def mixup(x, y, alpha=1.0, num_classes=None):
    """(lam * x + (1 - lam) * x[perm], the same mix of one-hot targets), lam ~ Beta(a, a);
    Zhang et al. 2018. Returns (mixed inputs, soft targets (B, K))."""
    a, as_tensor, target, lam, perm = _mix_setup(x, y, alpha, num_classes, "mixup")
    xp = backend.xp_of(a)
    mixed = lam * a + (1 - lam) * xp.take(a, perm, axis=0)
    soft = lam * target + (1 - lam) * xp.take(target, perm, axis=0)
    return _wrap(mixed, as_tensor), _wrap(soft, as_tensor)


def cutmix(x, y, alpha=1.0, num_classes=None):
    """Paste one box from x[perm] into every image (Yun et al. 2019): the box covers about
    1 - lam of the image, lam ~ Beta(a, a), and targets mix by the exact area kept."""
    a, as_tensor, target, lam, perm = _mix_setup(x, y, alpha, num_classes, "cutmix")
    xp = backend.xp_of(a)
    b, _, h, w = a.shape
    rng = backend.host_rng()
    cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
    ones = np.ones(b, dtype=np.int64)
    mask = _box_mask(top * ones, left * ones, (bottom - top) * ones, (right - left) * ones, a)
    mixed = a * (1 - mask) + xp.take(a, perm, axis=0) * mask
    kept = 1 - (bottom - top) * (right - left) / (h * w)
    soft = kept * target + (1 - kept) * xp.take(target, perm, axis=0)
    return _wrap(mixed, as_tensor), _wrap(soft, as_tensor)


def mixed_cross_entropy(logits, soft_targets):
    """mean_b -sum_k t[b, k] log softmax(logits)[b, k]: the loss for mixup/cutmix targets
    (F.cross_entropy with class-probability targets)."""
    if not isinstance(soft_targets, Tensor):
        soft_targets = Tensor(backend.to_device(soft_targets, logits.device, logits.dtype))
    return F.cross_entropy(logits, soft_targets)


def tta_predict(model, x, transforms=None):
    """Test-time augmentation: the mean of softmax(model(t(x))) over `transforms` (default:
    identity and horizontal flip). Runs under no_grad; put the model in eval() first."""
    transforms = transforms if transforms is not None else (lambda t: t, hflip)
    x = x if isinstance(x, Tensor) else Tensor(x)
    total = None
    with no_grad():
        for t in transforms:
            probs = F.softmax(model(t(x)), dim=1)
            total = probs if total is None else total + probs
    return total / len(transforms)
