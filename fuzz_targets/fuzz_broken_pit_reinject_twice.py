"""Atheris target for ``broken-pit-reinject-twice`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_pit_reinject_twice.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-pit-reinject-twice")
