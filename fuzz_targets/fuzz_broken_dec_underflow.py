"""Atheris target for ``broken-dec-underflow`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_dec_underflow.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-dec-underflow")
