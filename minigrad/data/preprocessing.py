"""Preprocessing fitted on a whole dataset, on the host: channel statistics, mean image, PCA/ZCA.
Read transforms.py before this file; these run once before training, not per batch.
distributed.py comes next.

All functions take NumPy arrays of shape (N, ...) with samples on the first axis.
"""

import numpy as np


def _check_batch(x, name, min_ndim=2):
    x = np.asarray(x)
    if x.ndim < min_ndim or x.shape[0] < 2:
        raise ValueError(f"{name}: expected an (N, ...) array with N >= 2, got {x.shape}")
    return x


def channel_stats(x, dtype=np.float64):
    """(mean, std) per channel of (N, C, H, W) data, over N, H and W (population std).

    Feed them to transforms.Normalize. Accumulates in float64 so uint8 sets do not overflow."""
    x = _check_batch(x, "channel_stats", min_ndim=4)
    xd = x.astype(dtype, copy=False)
    mean = xd.mean(axis=(0, 2, 3))
    std = xd.std(axis=(0, 2, 3))
    return mean, std


def mean_image(x):
    """The mean sample (the "mean image" of (N, C, H, W) data), to subtract from every one."""
    return _check_batch(x, "mean_image").mean(axis=0)


def subtract_mean_image(x, mean=None):
    """x - mean image (fitted on x itself when `mean` is None; pass the training one at test)."""
    x = np.asarray(x)
    return x - (mean_image(x) if mean is None else mean)


class PCAWhitening:
    """Decorrelate features and scale them to unit variance: y = (x - mu) U diag(1/sqrt(s + eps)).

    Fit on (N, D) or (N, C, H, W) data (flattened to D features). `n_components` keeps the
    leading principal directions. The covariance of y on the fitting data is the identity up
    to the eps term: s / (s + eps)."""

    def __init__(self, eps=1e-5, n_components=None):
        if eps < 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {eps}")
        self.eps = eps
        self.n_components = n_components

    def fit(self, x):
        x = _check_batch(x, type(self).__name__)
        flat = x.reshape(x.shape[0], -1).astype(np.float64)
        self.mean = flat.mean(axis=0)
        centred = flat - self.mean
        cov = centred.T @ centred / flat.shape[0]
        # eigh: covariance is symmetric; eigenvalues come ascending, so flip to descending
        s, u = np.linalg.eigh(cov)
        s, u = np.clip(s[::-1], 0, None), u[:, ::-1]
        k = self.n_components or s.shape[0]
        self.eigenvalues = s[:k]
        self.components = u[:, :k]  # (D, K): principal directions as columns
        self.shape = x.shape[1:]
        return self

    def _whiten(self, x):
        flat = np.asarray(x).reshape(x.shape[0], -1).astype(np.float64) - self.mean
        return flat @ self.components / np.sqrt(self.eigenvalues + self.eps)

    def transform(self, x):
        """(N, K) whitened coordinates in the principal basis."""
        return self._whiten(x).astype(np.asarray(x).dtype if _is_float(x) else np.float64)

    def fit_transform(self, x):
        return self.fit(x).transform(x)


class ZCAWhitening(PCAWhitening):
    """ZCA ("zero-phase") whitening: PCA whitening rotated back, y = W (x - mu) with
    W = U diag(1/sqrt(s + eps)) U^T, the whitening closest to the input (Bell & Sejnowski 1997).
    Keeps the input shape, so whitened images still look like images (edges)."""

    def transform(self, x):
        x = np.asarray(x)
        y = self._whiten(x) @ self.components.T
        dtype = x.dtype if _is_float(x) else np.float64
        return y.reshape((x.shape[0],) + self.shape).astype(dtype)


def _is_float(x):
    return np.issubdtype(np.asarray(x).dtype, np.floating)
