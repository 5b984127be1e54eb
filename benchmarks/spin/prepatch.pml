/*
 * prepatch (v6.13-v6.19): one IRQWIN bit, set by svm_enable_irq_window and
 * cleared by the first VINTR exit of any vCPU, both under the write lock.
 * Steps as in difftest/impls/prepatch.py. Expected: a lost-window
 * counterexample (Sean's interleaving).
 */
#include "kernel.pml"

/* kvm_set_or_clear_apicv_inhibit(IRQWIN, set) and the prepatch locked body */
inline kvm_set_or_clear_irqwin(set) {
	atomic {
		lock_writer == NONE && lock_readers == 0 ->
		STEP;
		lock_writer = me;
		old_r = apicv_inhibit_reasons;
		new_r = (set -> old_r | IRQWIN : old_r & ~IRQWIN)
	}
	apicv_update();
	up_write()
}

inline svm_enable_irq_window() {
	kvm_set_or_clear_irqwin(1);   /* not in guest mode (no L2 here) */
	svm_set_vintr()
}

inline svm_inject_irq() {
	atomic { STEP; skip }   /* EVENTINJ = vector | SVM_EVTINJ_VALID */
}

inline interrupt_window_interception() {
	kvm_make_request(REQ_EVENT, me);
	svm_clear_vintr();
	kvm_set_or_clear_irqwin(0)
}

#include "vcpu.pml"
