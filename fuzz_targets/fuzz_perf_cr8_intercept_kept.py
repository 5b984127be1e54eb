"""Atheris target for ``perf-cr8-intercept-kept`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_perf_cr8_intercept_kept.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="perf-cr8-intercept-kept")
