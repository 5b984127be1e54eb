"""Atheris target for ``broken-counter-plain-add`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_counter_plain_add.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-counter-plain-add")
