"""Atheris target for any implementation: ``python fuzz_targets/fuzz_generic.py
--impl NAME|FILE.py:CLASS [--no-feedback] [libFuzzer flags] [CORPUS ...]``.

A thin wrapper of ``difftest.fuzz.generic_target`` (the target lives in the
package, so an installed difftest fuzzes too), for this checkout and for the
per-implementation scripts beside it that ClusterFuzzLite builds.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from difftest.fuzz.generic_target import main  # noqa: E402

__all__ = ["main"]

if __name__ == "__main__":
    main()  # --impl NAME on the command line
