"""Atheris target for ``broken-kick-no-wait`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_kick_no_wait.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-kick-no-wait")
