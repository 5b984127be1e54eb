"""Atheris target for ``broken-zap-after-unlock`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_zap_after_unlock.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-zap-after-unlock")
