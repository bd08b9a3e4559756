"""Tests for minigrad/data/preprocessing.py: channel statistics, mean image, PCA/ZCA whitening
(whitened data must have identity covariance up to the eps term)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigrad.data import preprocessing as P


def correlated(n, d, seed):
    """(n, d) samples with a random full-rank covariance and a non-zero mean."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) + 3 * np.eye(d)
    return rng.normal(size=(n, d)) @ mix + rng.normal(size=d) * 5


def test_channel_stats_against_loops():
    x = np.random.default_rng(0).integers(0, 256, size=(7, 3, 4, 5), dtype=np.uint8)
    mean, std = P.channel_stats(x)
    for c in range(3):
        values = x[:, c].astype(np.float64).ravel()
        assert mean[c] == pytest.approx(values.sum() / values.size, rel=1e-12)
        assert std[c] == pytest.approx(np.sqrt(((values - mean[c]) ** 2).mean()), rel=1e-12)
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\) array with N >= 2, got \(3, 4\)"):
        P.channel_stats(np.zeros((3, 4)))


def test_mean_image():
    x = np.random.default_rng(1).random((5, 1, 3, 3))
    np.testing.assert_allclose(P.mean_image(x), sum(x) / 5, rtol=1e-12)
    centred = P.subtract_mean_image(x)
    np.testing.assert_allclose(centred.mean(axis=0), 0, atol=1e-12)
    test = x[:2] + 1
    np.testing.assert_allclose(P.subtract_mean_image(test, P.mean_image(x)), test - sum(x) / 5)


@given(d=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_pca_whitening_identity_covariance(d, seed):
    x = correlated(400, d, seed)
    pca = P.PCAWhitening(eps=1e-6)
    y = pca.fit_transform(x)
    cov = np.cov(y, rowvar=False, bias=True)
    # identity up to the eps term: variance s / (s + eps) along each principal direction
    shrink = pca.eigenvalues / (pca.eigenvalues + 1e-6)
    np.testing.assert_allclose(cov, np.diag(shrink), atol=1e-9)
    np.testing.assert_allclose(cov, np.eye(d), atol=1e-6 / pca.eigenvalues.min())
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-9)
    # the principal variances come out in descending order
    assert np.all(np.diff(pca.eigenvalues) <= 0)


@given(d=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_zca_whitening_identity_covariance_and_symmetry(d, seed):
    x = correlated(400, d, seed)
    zca = P.ZCAWhitening(eps=0.0).fit(x)
    y = zca.transform(x)
    np.testing.assert_allclose(np.cov(y, rowvar=False, bias=True), np.eye(d), atol=1e-8)
    # ZCA's whitening matrix is symmetric: W = Cov^(-1/2), computed independently here
    centred = x - x.mean(axis=0)
    s, u = np.linalg.eigh(centred.T @ centred / len(x))
    w = u @ np.diag(s**-0.5) @ u.T
    np.testing.assert_allclose(y, centred @ w, rtol=1e-7, atol=1e-8)


def test_whitening_images_and_eps():
    x = correlated(300, 12, 3).reshape(300, 3, 2, 2).astype(np.float32)
    y = P.ZCAWhitening(eps=0.1).fit(x).transform(x)
    assert y.shape == x.shape and y.dtype == np.float32  # ZCA keeps the image layout
    pca = P.PCAWhitening(eps=0.1).fit(x)
    flat = pca.transform(x).astype(np.float64)
    expected = pca.eigenvalues / (pca.eigenvalues + 0.1)  # the eps term shrinks the variances
    np.testing.assert_allclose(np.cov(flat, rowvar=False, bias=True), np.diag(expected), atol=1e-5)
    reduced = P.PCAWhitening(n_components=4).fit_transform(x)
    assert reduced.shape == (300, 4)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        P.PCAWhitening(eps=-1)
