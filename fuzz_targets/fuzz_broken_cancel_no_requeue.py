"""Atheris target for ``broken-cancel-no-requeue`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_cancel_no_requeue.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-cancel-no-requeue")
