"""Atheris target for ``broken-avic-tpr-sync`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_avic_tpr_sync.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-avic-tpr-sync")
