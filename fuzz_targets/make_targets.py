"""Write one Atheris target per built-in implementation into this directory:
``python fuzz_targets/make_targets.py``. The ClusterFuzzLite build runs it, so a
variant added to the registry gets its fuzzer without a hand-written file.

Each target is ``fuzz_generic`` with the implementation fixed, because a
distributed fuzzing service passes only libFuzzer's flags.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TEMPLATE = '''"""Atheris target for ``{impl}`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/{file} [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="{impl}")
'''


def target_file(impl: str) -> str:
    return "fuzz_" + impl.replace("-", "_") + ".py"


def target_text(impl: str) -> str:
    return TEMPLATE.format(impl=impl, file=target_file(impl))


def write_all(directory: Path = HERE) -> list[Path]:
    """Create or refresh every target; returns the paths written."""
    from difftest.impls import BUILTIN

    out = []
    for impl in BUILTIN:
        path = directory / target_file(impl)
        text = target_text(impl)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in write_all():
        print(p.name)
