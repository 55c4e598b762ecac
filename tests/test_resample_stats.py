"""The spread bench_label_efficiency.py prints over repeated random halves (bench/resample_stats.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from resample_stats import split_means, spread, t_half_width  # noqa: E402


def test_t_half_width_is_students_interval():
    # mean 2, sd 1, n 3: t(0.975, 2) = 4.3027 times 1 / sqrt(3)
    assert math.isclose(t_half_width([1.0, 2.0, 3.0]), 4.30265 / math.sqrt(3.0), rel_tol=1e-4)
    # the corrected variance factor replaces 1 / n
    assert math.isclose(t_half_width([1.0, 2.0, 3.0], variance_factor=1.0), 4.30265, rel_tol=1e-4)
    assert math.isnan(t_half_width([5.0]))
    assert math.isnan(t_half_width([float("nan"), 1.0]))  # one finite value left


def test_a_split_is_the_mean_of_its_directions():
    assert split_means([1.0, 3.0, 10.0, 20.0], [0, 0, 7, 7]).tolist() == [2.0, 15.0]
    mean, over_splits, corrected = spread([1.0, 3.0, 10.0, 20.0], [0, 0, 7, 7])
    assert mean == 8.5
    # over the two split means (2, 15): t(0.975, 1) = 12.706 times sd 9.19 / sqrt(2) = 6.5
    assert math.isclose(over_splits, 12.7062 * 6.5, rel_tol=1e-4)
    # corrected over the four runs: variance x (1/4 + 1), t with 3 degrees of freedom
    sd = math.sqrt(sum((v - 8.5) ** 2 for v in (1.0, 3.0, 10.0, 20.0)) / 3)
    assert math.isclose(corrected, 3.18245 * sd * math.sqrt(1.25), rel_tol=1e-4)
    assert corrected > t_half_width([1.0, 3.0, 10.0, 20.0])  # wider than the naive interval over runs
