"""Wilson intervals against known values."""

import pytest

from scorers.stats import wilson


def test_wilson_known_values():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = wilson(100, 100)
    assert lo == pytest.approx(0.9630, abs=1e-4) and hi == 1.0


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="between 0 and n=3"):
        wilson(4, 3)
    assert wilson(0, 0) == (0.0, 1.0)
