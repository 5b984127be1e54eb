"""Atheris target for ``broken-vintr-before-inhibit`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_vintr_before_inhibit.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-vintr-before-inhibit")
