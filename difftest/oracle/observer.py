"""What the oracle sees of a run, derived from the kernel's own actions.

Kernel functions only model the kernel: none of them calls into the oracle. The
observer watches them from outside instead, at four kinds of places:

- **calls of kernel entry points**, by instance attributes that shadow the
  methods and return the kernel's own generator (no extra frame, no extra
  scheduling point):
  ``__kvm_set_or_clear_apicv_inhibit(reason, set)`` is an inhibit update taking
  effect (every change of ``apicv_inhibit_reasons`` goes through it, under
  ``apicv_update_lock`` held for write); the vendor's ``enable_irq_window`` means
  KVM now waits for an IRQ window on that vCPU, and ``inject_irq`` with
  ``reinjected=False`` means the interrupt it waited for was taken;
- **lock primitives**: ``down_write(apicv_update_lock)`` is counted, by the reason
  the calling kernel function updates (its ``reason`` argument; IRQWIN for
  ``kvm_inc_or_dec_irq_window_inhibit``; BLOCKIRQ for
  ``kvm_arch_vcpu_guestdbg_update_apicv_inhibit``);
- **atomic primitives**: every store to the IRQ-window counter, checked for
  underflow at once;
- **the world's thread bodies** (not kernel code): which updates userspace
  issued, and where each VM entry begins.

The observations land in the ``ghost_*`` fields of the model state, where the
quiescence checks (``difftest.oracle.checks``) read them.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

from difftest.model.state import IRQWIN_BIT, VM, Reason, VCpu, bit
from difftest.oracle import spec
from difftest.oracle.findings import Kind

# Kernel functions that take apicv_update_lock for write without a ``reason``
# argument, and the reason they update.
WRITE_LOCK_REASON = {
    "kvm_inc_or_dec_irq_window_inhibit": Reason.IRQWIN,
    "kvm_arch_vcpu_guestdbg_update_apicv_inhibit": Reason.BLOCKIRQ,
}

# Code object -> whether its frames have a local ``reason`` (reading f_locals
# builds a dict, so it is read only where the name exists).
_HAS_REASON: dict[types.CodeType, bool] = {}

# Kernel function -> observer method told of each call (with the same arguments).
OBSERVED_CALLS = {
    "_kvm_set_or_clear_apicv_inhibit": "_saw_inhibit_update",
    "svm_enable_irq_window": "_saw_enable_irq_window",
    "vmx_enable_irq_window": "_saw_enable_irq_window",
    "svm_inject_irq": "_saw_inject_irq",
    "vmx_inject_irq": "_saw_inject_irq",
    "nested_svm_vmexit": "_saw_nested_vmexit",
    "kvm_check_and_inject_events": "_saw_event_evaluation",
}


class Observer:
    """Mixed into ``World``: the hooks, and the state they keep."""

    vm: VM
    current: int
    lazy_irqwin: bool
    finding: Callable[..., None]

    def _observe(self) -> None:
        """Attach to the primitives and entry points of this world's kernel.

        The class's own plain functions are tapped in the world's class
        (``class_taps``); an observed entry point that the class holds in any
        other form is tapped here, in the instance."""
        vm = self.vm
        vm.apicv_update_lock.on_write = self._saw_apicv_write_lock
        vm.apicv_nr_irq_window_req.on_store = self._saw_irq_window_store
        self._entry_state = [(0, 0)] * len(vm.vcpus)
        # (Never through ``self.__dict__``: materialising the instance dictionary
        # would slow down every attribute access of the kernel code on the world.)
        for name, hook in _instance_taps(type(self)):
            bound = getattr(self, name, None)
            if bound is not None:
                setattr(self, name, types.MethodType(_tap(bound, getattr(self, hook)), self))

    def _untap(self) -> None:
        """Remove the taps ``_observe`` made in the instance (``World.retire``)."""
        for name, _ in _instance_taps(type(self)):
            if type(self.__dict__.get(name)) is types.MethodType:
                delattr(self, name)

    # -- entry points -----------------------------------------------------

    def _saw_inhibit_update(self, reason: Reason, set: bool) -> None:
        """The locked body runs for ``reason``: the update takes effect now, in
        the order the write lock serialises them. IRQWIN is the kernel's own
        business (judged against the waiting vCPUs, not against ioctls)."""
        if self.vm.required & bit(reason) and reason != Reason.IRQWIN:
            self.vm.ghost_committed.append((reason, set))

    def _saw_enable_irq_window(self, vcpu: VCpu) -> None:
        # A window requested in L2 is L2's; only L1's windows are awaited.
        vcpu.ghost_window = vcpu.ghost_window or not vcpu.guest_mode

    def _saw_inject_irq(self, vcpu: VCpu, reinjected: bool) -> None:
        if not reinjected:
            vcpu.ghost_window = False

    def _saw_nested_vmexit(self, vcpu: VCpu) -> None:
        """A #VMEXIT to an L1 that intercepts INTR raises no KVM_REQ_EVENT: an L1
        interrupt that L1's RFLAGS.IF=0 blocked in L2 (no window is requested
        there, svm_set_vintr()) waits for KVM's next event evaluation."""
        if vcpu.intercept_intr and self.vm.irq_source != "legacy":
            vcpu.ghost_unevaluated = True

    def _saw_event_evaluation(self, vcpu: VCpu) -> None:
        if vcpu.ghost_unevaluated:  # written only on a change: a footprint stays exact
            vcpu.ghost_unevaluated = False

    # -- primitives -------------------------------------------------------

    def _saw_apicv_write_lock(self) -> None:
        """down_write(apicv_update_lock) was just granted; classify it by the
        kernel function that called down_write."""
        caller = sys._getframe(2)
        code = caller.f_code
        has = _HAS_REASON.get(code)
        if has is None:
            has = _HAS_REASON[code] = (
                "reason" in code.co_varnames + code.co_cellvars + code.co_freevars
            )
        reason = caller.f_locals.get("reason") if has else None
        if not isinstance(reason, Reason):
            reason = WRITE_LOCK_REASON.get(code.co_name)
        if reason is None:
            return
        vm = self.vm
        vm.write_locks[reason.name] = vm.write_locks.get(reason.name, 0) + 1
        if reason == Reason.IRQWIN and vm.apicv_inhibit_reasons & ~IRQWIN_BIT:
            vm.irqwin_write_locks_inhibited += 1
            if self.lazy_irqwin and self._inhibited_throughout():
                self.finding(
                    Kind.IRQWIN_WRITE_LOCK,
                    "down_write(apicv_update_lock) for IRQWIN while "
                    f"{spec.others_str(vm)} already inhibits",
                    where="down_write",
                )

    def _saw_irq_window_store(self, value: int) -> None:
        if value < 0:
            self.finding(
                Kind.COUNTER,
                f"IRQ-window counter went negative ({value})",
                where="atomic_dec",
                expected="counter >= 0",
            )

    # -- the world's thread bodies ------------------------------------------

    def _saw_entry(self, vcpu: VCpu) -> None:
        """A vCPU starts an entry: remember which other reasons inhibit now."""
        vm = self.vm
        self._entry_state[vcpu.id] = (
            vm.apicv_inhibit_reasons & ~IRQWIN_BIT,
            len(vm.ghost_committed),
        )

    def _inhibited_throughout(self) -> bool:
        """Some reason set when the current vCPU's entry began is still set and
        was not touched since: the lazy path certainly applied. (A reason set in
        the window between final's lockless peek and its down_write is a race
        the kernel accepts, not a missed optimisation.)"""
        if self.current >= len(self.vm.vcpus):
            return False
        others, mark = self._entry_state[self.current]
        touched = 0
        for r, _ in self.vm.ghost_committed[mark:]:
            touched |= bit(r)
        return bool(others & self.vm.apicv_inhibit_reasons & ~touched)


# Per implementation class: its observed entry points' taps, made once (classes
# are not changed once they run); and every tap made, to tell one from the rest.
_TAPS: dict[type, dict[str, Any]] = {}
_TAPPED: set[Any] = set()


def class_taps(cls: type) -> dict[str, Any]:
    """The taps of ``cls``'s observed entry points, by name: for a plain function
    and hook of the class, an unbound ``tapped(self, ...)`` that tells the hook
    then returns what the function returns. The world's class (``vendor_class``)
    holds them as methods; the world taps any other observed entry point itself."""
    taps = _TAPS.get(cls)
    if taps is None:
        taps = _TAPS[cls] = {}
        for name, hook in OBSERVED_CALLS.items():
            fn, hk = getattr(cls, name, None), getattr(cls, hook, None)
            if type(fn) is types.FunctionType and type(hk) is types.FunctionType:
                if fn in _TAPPED:  # already the tap of a base class's world class
                    continue
                taps[name] = _tap_unbound(fn, hk)
                _TAPPED.add(taps[name])
    return taps


# Per world class: the observed entry points its class does not tap.
_UNTAPPED: dict[type, list[tuple[str, str]]] = {}


def _instance_taps(cls: type) -> list[tuple[str, str]]:
    """(name, hook) of the observed entry points that a world of class ``cls``
    taps itself: those whose class attribute is not a tap (``class_taps``)."""
    names = _UNTAPPED.get(cls)
    if names is None:
        names = _UNTAPPED[cls] = [
            (name, hook)
            for name, hook in OBSERVED_CALLS.items()
            if getattr(cls, name, None) not in _TAPPED
        ]
    return names


def _tap_unbound(fn: Callable[..., Any], hook: Callable[..., None]) -> Callable[..., Any]:
    """``_tap`` for the class's own function and hook, taking the world first.

    For a function with plain positional parameters (every observed kernel
    function) the tap has the same parameters, so a call packs no ``*args``."""
    code = getattr(fn, "__code__", None)
    params = code.co_varnames[: code.co_argcount] if code is not None else ()
    if (
        code is not None
        and not code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
        and not code.co_kwonlyargcount
        and not code.co_posonlyargcount
        and getattr(fn, "__defaults__", None) is None
        and params
        and not {"_fn_", "_hook_"} & set(params)
    ):
        args = ", ".join(params)
        ns: dict[str, Any] = {"_fn_": fn, "_hook_": hook}
        exec(  # noqa: S102 (the parameters are the kernel function's own names)
            f"def tapped({args}):\n    _hook_({args})\n    return _fn_({args})\n", ns
        )
        tapped = ns["tapped"]
    else:

        def tapped(self: object, *args: Any, **kwargs: Any) -> Any:
            hook(self, *args, **kwargs)
            return fn(self, *args, **kwargs)

    tapped.__name__ = fn.__name__
    return tapped


def _tap(fn: Callable[..., Any], hook: Callable[..., None]) -> Callable[..., Any]:
    """``fn`` with ``hook`` told of each call first. The result is what ``fn``
    returns (for a kernel function, its generator), so the thread's frames and
    scheduling points are exactly the kernel function's own."""

    def tapped(self: object, *args: Any, **kwargs: Any) -> Any:
        hook(*args, **kwargs)
        return fn(*args, **kwargs)

    tapped.__name__ = fn.__name__
    return tapped
