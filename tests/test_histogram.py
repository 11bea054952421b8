import random

import numpy as np
import pytest

from loadkit.histogram import Histogram, bucket_bounds, bucket_index, bucket_value


def test_every_value_within_half_a_percent() -> None:
    for us in list(range(1, 5000)) + [random.Random(1).randrange(1, 3_600_000_000) for _ in range(20000)]:
        idx = bucket_index(us)
        low, width = bucket_bounds(idx)
        assert low <= us < low + width
        assert abs(bucket_value(idx) - us) / us <= 0.005


def test_buckets_are_bounded_for_an_hour() -> None:
    assert bucket_index(3_600_000_000) < 4300


def test_percentiles_match_exact_within_one_percent() -> None:
    rng = np.random.default_rng(7)
    samples = (rng.lognormal(mean=11, sigma=1.0, size=50_000)).astype(int) + 1
    hist = Histogram()
    for v in samples:
        hist.record(int(v))
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = float(np.quantile(samples, q, method="inverted_cdf"))
        assert hist.percentile(q) == pytest.approx(exact, rel=0.01)
    assert hist.percentile(1.0) == samples.max()


def test_merge_equals_single_histogram() -> None:
    rng = random.Random(3)
    values = [rng.randrange(1, 10_000_000) for _ in range(30_000)]
    whole = Histogram()
    parts = [Histogram() for _ in range(4)]
    for i, v in enumerate(values):
        whole.record(v)
        parts[i % 4].record(v)
    merged = Histogram()
    for part in parts:
        merged.merge(Histogram.from_dict(part.to_dict()))
    assert merged.counts == whole.counts
    assert merged.total == whole.total == len(values)
    assert merged.max_us == whole.max_us
    for q in (0.5, 0.99):
        assert merged.percentile(q) == whole.percentile(q)


def test_empty_histogram() -> None:
    assert Histogram().percentile(0.5) is None
