"""Schedulers: small interchangeable objects that pick the next thread."""

from difftest.schedulers.base import ChoiceScheduler, Scheduler
from difftest.schedulers.random import RandomScheduler, RandomSource
from difftest.schedulers.replay import ReplayScheduler, ScheduleDiverged

__all__ = [
    "ChoiceScheduler",
    "RandomScheduler",
    "RandomSource",
    "ReplayScheduler",
    "ScheduleDiverged",
    "Scheduler",
]
