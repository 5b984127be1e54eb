"""Every line and branch of the functions prepatch, seed and final change runs under
the standard searches (README, "Reachability"); the rest of difftest/impls/ is
printed, so a gap is visible in the test log."""

from __future__ import annotations

import pytest

from difftest.reachability import EXPECTED, measure, own_gaps, unexpected


@pytest.mark.slow
@pytest.mark.parametrize("version", ["prepatch", "seed", "final"])
def test_changed_functions_fully_reached(version: str) -> None:
    gaps = measure(version, runs=120)
    for g in gaps:
        print(g)
    own = own_gaps(version, gaps)
    assert unexpected(own) == []


def test_expected_gaps_name_a_reason() -> None:
    assert all(why.startswith(("kernel:", "model:")) for why in EXPECTED.values())
