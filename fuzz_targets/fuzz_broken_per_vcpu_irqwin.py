"""Atheris target for ``broken-per-vcpu-irqwin`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_per_vcpu_irqwin.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-per-vcpu-irqwin")
