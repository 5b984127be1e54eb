"""Atheris target for ``final`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_final.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="final")
