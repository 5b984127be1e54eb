"""Atheris target for ``broken-double-inc`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_double_inc.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-double-inc")
