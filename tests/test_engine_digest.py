"""The engine's speed work must not change a single execution: these hashes of
2,000 ``difftest check`` runs per shipped version (schedules, outcomes, findings,
final states), plus PCT, POS and traced runs, were computed before it began.

The check digests run on the legacy interrupt source and are unchanged by the wider
model (issue 9). The trace digests changed once: the ExtINT intack is now attributed
to kvm_cpu_get_extint(), a new frame; BROKEN changed with four new variants, and
again with four more (GIF, #VMEXIT, KVM_REINJECT_CONTROL: issue 9), and with
broken-x2apic-enabled-early, the older variants' own digests unchanged. The trace
digests of prepatch, seed and final changed a second time, for one new frame only:
kvm_vcpu_update_apicv() (the x2APIC memslot deletion runs before
__kvm_vcpu_update_apicv()); with that frame removed every trace is identical. BROKEN
changed with broken-avic-tpr-sync (the TPR model); without it the older digest comes
out unchanged."""

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
        "96d3a2591890fb61f0f460cd42f989b2e49a20c5ba7c9d642c065615e7b87b54",
    ),
    "seed": (
        "47852034cd002d40b421784c25edbdeeb72792198769b4971bb6b5b899a124cd",
        "436b49147e5eb6ac071ff8d1db1f9d998b73d955db5002a646237fd6c1aadf62",
    ),
    "final": (
        "1e21d8e8390efcd4d4e0137f6bd926f38767f10cff904832106f1e32c2b48da2",
        "6e3e07ec0cef262112bafc17f6ef4df6bb6d6e45437bacdc9d86d27d504a075b",
    ),
}
BROKEN = "a33c2c74cd8dcee1e7df89f43269f96f8fd05ffa477baa822385ad115137a2df"


@pytest.mark.parametrize("version", VERSIONS)
def test_check_runs_unchanged(version):
    assert check_digest(version, CHECK_RUNS) == PINNED[version][0]


@pytest.mark.parametrize("version", VERSIONS)
def test_pct_pos_and_traces_unchanged(version):
    assert other_digest(version, OTHER_RUNS) == PINNED[version][1]


def test_broken_variants_unchanged():
    assert broken_digest(BROKEN_RUNS) == BROKEN
