"""Atheris target for ``broken-zap-no-seq`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_zap_no_seq.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-zap-no-seq")
