"""Atheris target for ``prepatch`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_prepatch.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="prepatch")
