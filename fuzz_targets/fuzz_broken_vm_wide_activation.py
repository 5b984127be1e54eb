"""Atheris target for ``broken-vm-wide-activation`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_vm_wide_activation.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-vm-wide-activation")
