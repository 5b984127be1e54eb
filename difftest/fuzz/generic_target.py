"""The Atheris target for any implementation, inside the package so that an
installed difftest fuzzes without a checkout: ``python -m
difftest.fuzz.generic_target --impl NAME|FILE.py:CLASS [--no-feedback]
[libFuzzer flags] [CORPUS ...]`` (``difftest fuzz`` runs this file).

The input bytes are one choice stream that sizes and draws the scenario and then
every scheduling decision (difftest.fuzz.decode). A bug found by the oracle
raises ``Divergence``; a failure of difftest itself raises
``DifftestInternalError``. Importing this module imports the model under
Atheris's line instrumentation; ``fuzz_targets/`` holds thin wrappers of it.
"""

import os
import sys

# Run as a file, Python puts this folder first on sys.path, where its modules
# (target, seeds, ...) would pass for top-level ones: take it off.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import atheris  # noqa: E402

from difftest.fuzz import NOT_INSTRUMENTED  # noqa: E402

with atheris.instrument_imports(include=["difftest"], exclude=NOT_INSTRUMENTED):
    from difftest.fuzz.target import main

__all__ = ["main"]

if __name__ == "__main__":
    main()  # --impl NAME on the command line
