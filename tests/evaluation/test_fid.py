import itertools

import numpy as np
import pytest

from layout2im.evaluation.feature_stats import GaussianStats
from layout2im.evaluation.fid import fid_from_features, frechet_distance, trace_sqrt_product

scipy_linalg = pytest.importorskip("scipy.linalg", reason="scipy is a dev dependency")


def _features(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mix + shift


def _reference_fid(a, b):
    """pytorch-fid's formula with scipy.linalg.sqrtm."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy_linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def sqrtm_product(sigma1, sigma2):
    """The principal square root of ``sigma1 @ sigma2`` (symmetric PSD, ``sigma1`` positive
    definite) by the identity the FID trace rests on: ``A^1/2 (A^1/2 B A^1/2)^1/2 A^-1/2``."""
    w, v = np.linalg.eigh(sigma1)
    if w.min() <= w.max() * 1e-12:
        raise np.linalg.LinAlgError("sigma1 is singular")
    root1, inv_root1 = (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T
    wm, vm = np.linalg.eigh(root1 @ sigma2 @ root1)
    middle = (vm * np.sqrt(np.clip(wm, 0.0, None))) @ vm.T
    return root1 @ middle @ inv_root1


@pytest.mark.parametrize("d", [8, 64])
def test_sqrtm_matches_scipy(d):
    s1 = np.cov(_features(4 * d, d, 0), rowvar=False)
    s2 = np.cov(_features(4 * d, d, 1, shift=0.5), rowvar=False)
    ours = sqrtm_product(s1, s2)
    ref = scipy_linalg.sqrtm(s1 @ s2)
    rel = np.linalg.norm(ours - ref.real) / np.linalg.norm(ref.real)
    assert rel < 1e-6
    assert np.allclose(ours @ ours, s1 @ s2, rtol=1e-8, atol=1e-10)
    assert abs(trace_sqrt_product(s1, s2) - np.trace(ref.real)) / np.trace(ref.real) < 1e-6


def test_sqrtm_refuses_singular_first_factor():
    s = np.cov(_features(5, 16, 0), rowvar=False)  # rank 4
    with pytest.raises(np.linalg.LinAlgError):
        sqrtm_product(s, np.eye(16))


def test_fid_matches_the_scipy_formula_and_handles_fewer_images_than_dims():
    a, b = _features(200, 32, 0), _features(200, 32, 1, shift=0.3)
    assert fid_from_features(a, b) == pytest.approx(_reference_fid(a, b), rel=1e-6)
    # 20 images of 64 features: singular covariances; the trace form stays real and close.
    a, b = _features(20, 64, 2), _features(20, 64, 3, shift=0.2)
    assert fid_from_features(a, b) == pytest.approx(_reference_fid(a, b), rel=1e-4)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    a = _features(500, 16, 0)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)
    values = [fid_from_features(a, a + s) for s in (0.0, 0.1, 0.5, 1.0, 2.0)]
    assert values[0] == pytest.approx(0.0, abs=1e-8)
    assert all(x < y for x, y in itertools.pairwise(values))
    # a constant shift by s in every one of 16 dims adds exactly 16 s^2
    assert values[3] == pytest.approx(16 * 1.0**2, rel=1e-9)


def test_frechet_distance_of_known_gaussians():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)
    with pytest.raises(ValueError, match="shapes differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="at least 2"):
        GaussianStats.of(np.zeros((1, 4)))
