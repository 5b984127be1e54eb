"""Atheris target for ``broken-stgi-no-event`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_stgi_no_event.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-stgi-no-event")
