"""Atheris target for ``broken-no-l2-dec`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_no_l2_dec.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-no-l2-dec")
