"""Atheris target for ``broken-inject-gif0`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_inject_gif0.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-inject-gif0")
