"""Atheris target for ``perf-eager-irqwin`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_perf_eager_irqwin.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="perf-eager-irqwin")
