"""Systematic exploration: DPOR over every schedule of bounded scenarios."""

from difftest.explore.dpor import Explorer, Outcome, Stats, explore
from difftest.explore.scenarios import Bound, scenarios

__all__ = ["Bound", "Explorer", "Outcome", "Stats", "explore", "scenarios"]
