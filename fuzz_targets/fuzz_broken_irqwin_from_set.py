"""Atheris target for ``broken-irqwin-from-set`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_irqwin_from_set.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-irqwin-from-set")
