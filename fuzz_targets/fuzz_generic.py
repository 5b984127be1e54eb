"""Atheris target for any implementation: ``python fuzz_targets/fuzz_generic.py
--impl NAME|FILE.py:CLASS [--no-feedback] [libFuzzer flags] [CORPUS ...]``.

The input bytes are one choice stream that sizes and draws the scenario and then
every scheduling decision (difftest.fuzz.decode). A bug found by the oracle
raises ``Divergence``; a failure of difftest itself raises
``DifftestInternalError``. ``difftest fuzz`` runs this and triages the crashes.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atheris  # noqa: E402

from difftest.fuzz import NOT_INSTRUMENTED  # noqa: E402

with atheris.instrument_imports(include=["difftest"], exclude=NOT_INSTRUMENTED):
    from difftest.fuzz.target import main

if __name__ == "__main__":
    main()  # --impl NAME on the command line
