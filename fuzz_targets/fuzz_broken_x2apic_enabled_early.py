"""Atheris target for ``broken-x2apic-enabled-early`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_x2apic_enabled_early.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-x2apic-enabled-early")
