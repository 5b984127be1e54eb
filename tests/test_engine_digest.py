"""The engine's speed work must not change a single execution: these hashes of
2,000 ``difftest check`` runs per shipped version (schedules, outcomes, findings,
final states), plus PCT, POS and traced runs, were computed before it began.

The check digests run on the legacy interrupt source and are unchanged by the wider
model (issue 9). The trace digests changed once: the ExtINT intack is now attributed
to kvm_cpu_get_extint(), a new frame; BROKEN changed with four new variants, and
again with four more (GIF, #VMEXIT, KVM_REINJECT_CONTROL: issue 9), the older
variants' own digests unchanged."""

from __future__ import annotations

import pytest
from engine_digest import (
    BROKEN_RUNS,
    CHECK_RUNS,
    OTHER_RUNS,
    VERSIONS,
    broken_digest,
    check_digest,
    other_digest,
)

PINNED = {
    "reference": (
        "2c8f4b466db64f6f8502ed56ba61772cdb4060bb89300264b1d49fc660317624",
        "bec82dc02210a34e1876a4167e245044adbf1e77fb15bb3a8a234e4280efb6e3",
    ),
    "prepatch": (
        "8819ff6b57bfc8d4fd723fc71ec23657e337c5288691572de39f8acfbaf72b7f",
        "86ca50d63594f788e9e15a7607094aed86ba08273342e8e302a07e0f12bc45c0",
    ),
    "seed": (
        "47852034cd002d40b421784c25edbdeeb72792198769b4971bb6b5b899a124cd",
        "a25f40949f1b2da07d00be9102fc6a4dd905090d0ae1c00f7901158291fb7c37",
    ),
    "final": (
        "1e21d8e8390efcd4d4e0137f6bd926f38767f10cff904832106f1e32c2b48da2",
        "5caa9aa368588e332bd57a3e81d496699ba3f926e417c61735413667d7d969b7",
    ),
}
BROKEN = "f23a7f3535ce4bd047382a0eb3b1de9b323b1948db6b3fa81e978d13a13eab15"


@pytest.mark.parametrize("version", VERSIONS)
def test_check_runs_unchanged(version):
    assert check_digest(version, CHECK_RUNS) == PINNED[version][0]


@pytest.mark.parametrize("version", VERSIONS)
def test_pct_pos_and_traces_unchanged(version):
    assert other_digest(version, OTHER_RUNS) == PINNED[version][1]


def test_broken_variants_unchanged():
    assert broken_digest(BROKEN_RUNS) == BROKEN
