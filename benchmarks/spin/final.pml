/*
 * final ("KVM: SVM: Fix IRQ window inhibit handling" v2): the counter
 * apicv_nr_irq_window_req, incremented in svm_enable_irq_window (once per
 * vCPU) and decremented in svm_inject_irq; the locked body recomputes IRQWIN
 * from the counter. Steps as in difftest/impls/final.py. Expected: verified.
 */
#include "kernel.pml"

/* kvm_inc_or_dec_irq_window_inhibit(inc) */
inline kvm_inc_or_dec_irq_window_inhibit(inc) {
	atomic { STEP; flag = ((apicv_inhibit_reasons & ~IRQWIN) != 0) }
	if
	:: flag ->
		down_read();
		atomic { STEP; flag = ((apicv_inhibit_reasons & ~IRQWIN) != 0) }
		if
		:: flag ->
			atomic { STEP; irq_window_count = irq_window_count + (inc -> 1 : -1); assert(irq_window_count >= 0) }
			up_read()
		:: else ->
			up_read()
		fi
	:: else -> skip
	fi;
	if
	:: !flag ->
		atomic { lock_writer == NONE && lock_readers == 0 -> STEP; lock_writer = me }
		atomic { STEP;
			irq_window_count = irq_window_count + (inc -> 1 : -1);
			assert(irq_window_count >= 0);
			res = (irq_window_count == (inc -> 1 : 0));
			/* the locked body: IRQWIN recomputed from the counter */
			old_r = apicv_inhibit_reasons;
			new_r = (irq_window_count != 0 -> old_r | IRQWIN : old_r & ~IRQWIN)
		}
		if :: res -> apicv_update() :: else -> skip fi;
		up_write()
	:: else -> skip
	fi
}

inline svm_enable_irq_window() {
	if
	:: !irq_window[me] ->   /* enable_apicv, not in guest mode */
		irq_window[me] = 1;
		kvm_inc_or_dec_irq_window_inhibit(1)
	:: else -> skip
	fi;
	svm_set_vintr()
}

inline svm_inject_irq() {
	atomic { STEP; has = extint[me] }
	if
	:: irq_window[me] && !has ->
		irq_window[me] = 0;
		kvm_inc_or_dec_irq_window_inhibit(0)
	:: else -> skip
	fi;
	atomic { STEP; skip }   /* EVENTINJ = vector | SVM_EVTINJ_VALID */
}

inline interrupt_window_interception() {
	kvm_make_request(REQ_EVENT, me);
	svm_clear_vintr()
}

#include "vcpu.pml"
