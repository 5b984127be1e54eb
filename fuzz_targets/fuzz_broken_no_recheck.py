"""Atheris target for ``broken-no-recheck`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_no_recheck.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-no-recheck")
