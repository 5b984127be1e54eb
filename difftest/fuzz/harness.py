"""One fuzzer input: decode, run, judge. Only the oracle's divergences crash.

libFuzzer treats every uncaught exception as a crash. To keep a bug of difftest
itself from passing for a bug of the kernel, the two leave as different types:
``Divergence`` (message starts with the finding's signature) for a bug the
oracle found, ``DifftestInternalError`` for anything else raised while decoding
or running. Latency findings are never crashes; perf findings are only with
``perf`` (``--fail-on-perf``).
"""

from __future__ import annotations

from difftest.check import GenParams
from difftest.fuzz.decode import decode
from difftest.fuzz.feedback import Feedback
from difftest.impls.kernel.world import World
from difftest.oracle.findings import Finding
from difftest.runner import Result, run


class Divergence(Exception):
    """The implementation diverged from the specification on this input."""

    def __init__(self, impl: str, finding: Finding) -> None:
        super().__init__(f"{finding.signature}: {impl}: {finding.message}")
        self.finding = finding


class DifftestInternalError(Exception):
    """difftest itself failed on this input: a bug of the tool, not of KVM."""


class Harness:
    """Runs inputs against one implementation, optionally reporting feedback."""

    def __init__(
        self,
        impl: type[World],
        params: GenParams | None = None,
        feedback: Feedback | None = None,
        perf: bool = False,
    ) -> None:
        self.impl = impl
        self.perf = perf
        self.params = params or GenParams()
        self.feedback = feedback
        self._cls = feedback.instrument(impl) if feedback is not None else impl

    def run(self, data: bytes) -> Result:
        """The run ``data`` decodes to; raises only ``DifftestInternalError``."""
        try:
            scenario, scheduler = decode(data, self.params)
            fb = self.feedback
            if fb is None:
                return run(self._cls, scenario, scheduler)
            r = run(self._cls, scenario, fb.scheduler(scheduler))
            fb.finish(r)
            return r
        except Exception as e:
            raise DifftestInternalError(
                f"difftest internal error on {self.impl.name}: {type(e).__name__}: {e}"
            ) from e

    def __call__(self, data: bytes) -> None:
        """libFuzzer's test-one-input: raises ``Divergence`` on a bug finding
        (or, with ``perf``, a perf finding)."""
        f = self.run(data).first_failure(self.perf)
        if f is not None:
            raise Divergence(self.impl.name, f)
