"""Atheris target for ``broken-store-before-kick`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_store_before_kick.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-store-before-kick")
