import json

import numpy as np
import pytest

from layout2im.evaluation.feature_stats import GaussianStats, load_stats, save_stats, stats_path


def _features(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_fit_is_the_mean_and_unbiased_covariance():
    feats = _features(10, 4, 0)
    stats = GaussianStats.of(feats)
    assert stats.n == 10 and np.allclose(stats.mu, feats.mean(0))
    assert np.allclose(stats.sigma, np.cov(feats, rowvar=False, ddof=1))
    with pytest.raises(ValueError, match="at least 2"):
        GaussianStats.of(np.zeros((1, 4)))


def test_stats_cache_round_trip_is_atomic_and_keyed_by_settings(tmp_path):
    stats = GaussianStats.of(_features(10, 4, 0))
    meta = {"kind": "inception", "num_layouts": 10, "data": {"name": "shapes"}}
    path = stats_path(tmp_path, "shapes-val-inception", meta)
    assert stats_path(tmp_path, "shapes-val-inception", {**meta, "num_layouts": 11}) != path
    assert load_stats(path, meta) is None
    save_stats(path, stats, meta)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    back = load_stats(path, meta)
    assert back.n == 10 and np.array_equal(back.mu, stats.mu)
    assert np.array_equal(back.sigma, stats.sigma)
    assert load_stats(path, {**meta, "kind": "other"}) is None  # other settings: ignored
    path.write_bytes(b"not an npz")
    assert load_stats(path, meta) is None
    assert json.loads(json.dumps(meta))  # meta is plain JSON


@pytest.mark.parametrize("meta", ["[" * 100_000 + "]" * 100_000, '{"n": 1e400, "x": NaN}'])
def test_a_cache_whose_settings_record_is_hostile_is_ignored_with_a_warning(tmp_path, caplog, meta):
    stats = GaussianStats.of(_features(10, 4, 0))
    path = tmp_path / "stats.npz"
    np.savez(path, mu=stats.mu, sigma=stats.sigma, n=np.int64(stats.n), meta=meta)
    with caplog.at_level("WARNING", logger="layout2im"):
        assert load_stats(path, {"kind": "inception"}) is None
    assert "ignoring unreadable statistics cache" in caplog.text
    assert "its settings record: " in caplog.text
