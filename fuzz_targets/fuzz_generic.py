"""Atheris target: ``python fuzz_targets/fuzz_generic.py --impl NAME [libFuzzer flags]``.

The input bytes are one choice stream (difftest.schedulers.bytes) that draws the
scenario and then every scheduling decision. A bug finding raises, which
libFuzzer reports as a crash; replay the crashing input with the same command.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from difftest.impls import load
    from difftest.model.scenario import generate
    from difftest.runner import run
    from difftest.schedulers.base import ChoiceScheduler
    from difftest.schedulers.bytes import BytesSource


class Divergence(Exception):
    """A finding of the oracle: the only thing this target reports as a crash."""


def main() -> None:
    argv = list(sys.argv)
    impl_name = "final"
    if "--impl" in argv:
        i = argv.index("--impl")
        impl_name = argv[i + 1]
        del argv[i : i + 2]
    impl = load(impl_name)

    def one_input(data: bytes) -> None:
        src = BytesSource(data)
        scenario = generate(src, vcpus=1 + src.draw(3), ioctls=1, ops=1 + src.draw(4))
        r = run(impl, scenario, ChoiceScheduler(src))
        if r.first_bug is not None:
            f = r.first_bug
            raise Divergence(f"{impl.name}: {f.kind.value} at {f.where}: {f.message}")

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
