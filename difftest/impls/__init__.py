"""Implementations: the shipped versions by name, and plugins as ``FILE.py:NAME``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from difftest.errors import PluginError, UsageError
from difftest.impls.kernel.world import World

BUILTIN = {
    "reference": ("difftest.impls.reference", "Reference"),
    "prepatch": ("difftest.impls.prepatch", "Prepatch"),
    "seed": ("difftest.impls.seed", "Seed"),
    "final": ("difftest.impls.final", "Final"),
    "broken-per-vcpu-irqwin": ("difftest.impls.broken.per_vcpu_irqwin", "PerVcpuIrqwin"),
    "broken-irqwin-from-set": ("difftest.impls.broken.irqwin_from_set", "IrqwinFromSet"),
    "broken-zap-no-seq": ("difftest.impls.broken.zap_no_seq", "ZapNoSeq"),
    "broken-store-before-kick": ("difftest.impls.broken.store_before_kick", "StoreBeforeKick"),
    "broken-kick-no-wait": ("difftest.impls.broken.kick_no_wait", "KickNoWait"),
    "broken-zap-before-store": ("difftest.impls.broken.zap_before_store", "ZapBeforeStore"),
    "broken-zap-after-unlock": ("difftest.impls.broken.zap_after_unlock", "ZapAfterUnlock"),
    "broken-fault-seq-late": ("difftest.impls.broken.fault_seq_late", "FaultSeqLate"),
    "broken-double-inc": ("difftest.impls.broken.double_inc", "DoubleInc"),
    "broken-dec-underflow": ("difftest.impls.broken.dec_underflow", "DecUnderflow"),
    "broken-no-recheck": ("difftest.impls.broken.no_recheck", "NoRecheck"),
    "broken-counter-plain-add": ("difftest.impls.broken.counter_plain_add", "CounterPlainAdd"),
    "broken-vintr-before-inhibit": (
        "difftest.impls.broken.vintr_before_inhibit",
        "VintrBeforeInhibit",
    ),
    "broken-vm-wide-activation": ("difftest.impls.broken.vm_wide_activation", "VmWideActivation"),
    "broken-no-l2-dec": ("difftest.impls.broken.no_l2_dec", "NoL2Dec"),
    "broken-pic-ack-keeps-output": (
        "difftest.impls.broken.pic_ack_keeps_output",
        "PicAckKeepsOutput",
    ),
    "broken-cancel-no-requeue": ("difftest.impls.broken.cancel_no_requeue", "CancelNoRequeue"),
    "broken-lapic-no-event": ("difftest.impls.broken.lapic_no_event", "LapicNoEvent"),
    "broken-stgi-no-event": ("difftest.impls.broken.stgi_no_event", "StgiNoEvent"),
    "broken-inject-gif0": ("difftest.impls.broken.inject_gif0", "InjectGif0"),
    "broken-vmexit-no-event": ("difftest.impls.broken.vmexit_no_event", "VmexitNoEvent"),
    "broken-pit-reinject-twice": ("difftest.impls.broken.pit_reinject_twice", "PitReinjectTwice"),
    "broken-x2apic-enabled-early": (
        "difftest.impls.broken.x2apic_enabled_early",
        "X2apicEnabledEarly",
    ),
    "broken-avic-tpr-sync": ("difftest.impls.broken.avic_tpr_sync", "AvicTprSync"),
    "perf-eager-irqwin": ("difftest.impls.perf_eager_irqwin", "PerfEagerIrqwin"),
    "perf-cr8-intercept-kept": (
        "difftest.impls.perf_cr8_intercept_kept",
        "PerfCr8InterceptKept",
    ),
}
CORRECT = ("reference", "final")
BROKEN = tuple(n for n in BUILTIN if n.startswith("broken-"))
# Variants whose only divergence is a perf finding (found with --fail-on-perf).
PERF = tuple(n for n in BUILTIN if n.startswith("perf-"))


class ImplError(UsageError):
    """An implementation name or plugin that cannot be loaded."""


class PluginImportError(ImplError, PluginError):
    """The plugin's own code raised (or exited) while being imported: exit 3 with its
    frames from the command line; still an ``ImplError`` to callers that only load."""

    def __init__(self, what: str, exc: BaseException, plugin_file: str) -> None:
        PluginError.__init__(self, what, exc, plugin_file)


# Plugin files loaded so far (resolved paths): their frames are the user's own.
PLUGIN_FILES: set[str] = set()


def _shown(text: str) -> str:
    """A user's string in an error: quoted, and short whatever its length."""
    return repr(text) if len(text) <= 80 else repr(text[:60]) + f"... ({len(text)} characters)"


def is_plugin_spec(spec: str) -> bool:
    """``FILE.py:CLASS`` (running it imports that file), not a shipped name."""
    return spec not in BUILTIN and ":" in spec


def spec_of(cls: type[World]) -> str:
    """A spec that loads ``cls`` again from any folder: the shipped name, or the
    plugin file's absolute path and the class name."""
    for name, (module, attr) in BUILTIN.items():
        if cls.__module__ == module and cls.__name__ == attr:
            return name
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if file is None:
        raise ImplError(f"{cls.__name__} is neither shipped nor loaded from a file")
    return f"{Path(file).resolve()}:{cls.__qualname__}"


def plugin_sha256(spec: str) -> str | None:
    """sha256 of a plugin spec's file (None for a shipped name or a missing file)."""
    if not is_plugin_spec(spec):
        return None
    path = Path(spec.rpartition(":")[0])
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def load(spec: str) -> type[World]:
    """``final`` or ``path/to/file.py:ClassName`` -> the implementation class."""
    if spec in BUILTIN:
        module, cls = BUILTIN[spec]
        return getattr(importlib.import_module(module), cls)
    if ":" not in spec:
        raise ImplError(
            f"unknown implementation {_shown(spec)} (built-in: {', '.join(BUILTIN)}; "
            "or FILE.py:NAME)"
        )
    path_s, _, name = spec.rpartition(":")
    path = Path(path_s)
    try:
        found = path.is_file()
    except (OSError, ValueError) as e:  # a name too long, a NUL byte
        msg = getattr(e, "strerror", None) or e
        raise ImplError(f"plugin file {_shown(path_s)}: {msg}") from None
    if not found:
        raise ImplError(f"plugin file {_shown(path_s)} not found")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    mod_name = f"difftest_plugin_{path.stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImplError(f"cannot load plugin file {path_s!r}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    PLUGIN_FILES.add(str(path.resolve()))
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's code raised (or exited): exit 3
        del sys.modules[mod_name]
        raise PluginImportError(
            f"plugin {path_s!r} failed to import", e, str(path.resolve())
        ) from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, World)):
        raise ImplError(f"{path_s!r} has no implementation class {name!r}")
    return cls
