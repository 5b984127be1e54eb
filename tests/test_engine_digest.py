"""The engine's speed work must not change a single execution: these hashes of
2,000 ``difftest check`` runs per shipped version (schedules, outcomes, findings,
final states), plus PCT, POS and traced runs, were computed before it began."""

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
        "c2324bc58172bd94619322be98fe4c3b0af708c8dc5aac17d95e7cfd34fe391a",
    ),
    "prepatch": (
        "8819ff6b57bfc8d4fd723fc71ec23657e337c5288691572de39f8acfbaf72b7f",
        "9993eac6d3cde346e9aeff3489ee9db5fcef18e9a3d4a209d149827f03de54d9",
    ),
    "seed": (
        "47852034cd002d40b421784c25edbdeeb72792198769b4971bb6b5b899a124cd",
        "16b99c794dfdbad97f5915e4db40302b02cba5d93e317eec9ae267af665f05f3",
    ),
    "final": (
        "1e21d8e8390efcd4d4e0137f6bd926f38767f10cff904832106f1e32c2b48da2",
        "897c6aa1bfd7b709b7a8f661622e536052647c765a91a9acd4ff29f2419e8186",
    ),
}
BROKEN = "787823cea72f2b0b4b05c9169d8c70778556526bbdae1bddb90936cda56fe88d"


@pytest.mark.parametrize("version", VERSIONS)
def test_check_runs_unchanged(version):
    assert check_digest(version, CHECK_RUNS) == PINNED[version][0]


@pytest.mark.parametrize("version", VERSIONS)
def test_pct_pos_and_traces_unchanged(version):
    assert other_digest(version, OTHER_RUNS) == PINNED[version][1]


def test_broken_variants_unchanged():
    assert broken_digest(BROKEN_RUNS) == BROKEN
