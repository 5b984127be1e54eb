/*
 * The kernel state and the version-independent kernel steps of difftest's model
 * (difftest/impls/kernel/), for one bounded configuration: Sean's scenario
 * (tests/helpers.py SEAN), SVM, two vCPUs, no ioctl thread, no other inhibit
 * reason, an ExtINT pending on both vCPUs at the start.
 *
 * One Python step (a yielded Point, then the code up to the next yield) is one
 * atomic block here, guarded by the Point's ready predicate. Branches on a
 * vCPU's own fields sit between blocks; no other thread writes them, so that
 * adds no behaviour. A version file (prepatch.pml, final.pml) includes this,
 * defines its own functions, then includes vcpu.pml.
 */

#define NV 2
#define NONE 255

/* vcpu->mode */
#define OUTSIDE 0
#define IN_GUEST 1
#define EXITING 2

/* vcpu->requests */
#define REQ_EVENT 1
#define REQ_APICV_UPDATE 2

/* -DLOST_ONLY checks the lost-window property alone, without the two WARNs */
#ifdef LOST_ONLY
#define WARN_ON(c) skip
#else
#define WARN_ON(c) assert(!(c))
#endif

/* Every atomic block that is one step of the Python model starts with STEP
 * (after its guard). It prints nothing during verification; replaying a trail
 * (spin -t) or simulating (spin -nSEED) prints the thread of every step, which
 * benchmarks/spin_compare.py turns into a difftest schedule. */
#define STEP printf("@S%d\n", me)

/* the only inhibit reason this configuration can set */
#define IRQWIN 1

/* guest actions (scenario ops) and exit reasons */
#define OP_RUN 0
#define OP_STI 1
#define EXIT_HLT 0
#define EXIT_VINTR 1
#define EXIT_INTR 2

/* struct kvm */
byte apicv_inhibit_reasons = 0;
byte lock_readers = 0;          /* apicv_update_lock */
byte lock_writer = NONE;
byte mmu_writer = NONE;         /* mmu_lock (only taken for write here) */
byte mmu_invalidate_in_progress = 0;
bit apic_spte = 0;
short irq_window_count = 0;     /* final's apicv_nr_irq_window_req */
/* mmu_invalidate_seq is bumped by every zap but read only by the APIC-page
 * fault, which this configuration never takes: its step is kept, its value
 * (which would only grow the state vector) is not. */

/* struct kvm_vcpu, struct vcpu_svm, and the guest's RFLAGS.IF */
byte mode[NV];
byte requests[NV];
bit ipi_pending[NV];
bit apicv_active[NV];
bit v_irq[NV];
bit vintr_intercept[NV];
bit irq_window[NV];             /* final's avic_irq_window */
bit extint[NV];                 /* the PIC's INTR line for this vCPU */
bit injected[NV];
bit guest_if[NV];

/* the runtime's thread bookkeeping (World.idle / World.finished) */
bit idle[NV];
bit finished[NV];

/* ---- virt/kvm/kvm_main.c ---- */

inline kvm_make_request(req, v) {
	atomic { STEP; requests[v] = requests[v] | req }
}

inline kvm_check_request(req, res) {
	atomic { STEP; res = ((requests[me] & req) != 0); requests[me] = requests[me] & ~req }
}

/* kvm_make_all_cpus_request(KVM_REQ_APICV_UPDATE) with KVM_REQUEST_WAIT */
inline kvm_make_all_cpus_request() {
	kvm_make_request(REQ_APICV_UPDATE, 0);
	atomic { STEP;
		t0 = (mode[0] != OUTSIDE);
		if :: mode[0] == IN_GUEST -> mode[0] = EXITING :: else -> skip fi;
		if :: t0 -> ipi_pending[0] = 1 :: else -> skip fi
	}
	kvm_make_request(REQ_APICV_UPDATE, 1);
	atomic { STEP;
		t1 = (mode[1] != OUTSIDE);
		if :: mode[1] == IN_GUEST -> mode[1] = EXITING :: else -> skip fi;
		if :: t1 -> ipi_pending[1] = 1 :: else -> skip fi
	}
	if :: t0 -> atomic { !ipi_pending[0] -> STEP } :: else -> skip fi;
	if :: t1 -> atomic { !ipi_pending[1] -> STEP } :: else -> skip fi
}

/* ---- arch/x86/kvm/mmu/mmu.c ---- */

inline kvm_zap_gfn_range() {
	atomic { mmu_writer == NONE -> STEP; mmu_writer = me }
	atomic { STEP; mmu_invalidate_in_progress++ }
	atomic { STEP; apic_spte = 0 }
	atomic { STEP; mmu_invalidate_in_progress-- }   /* and mmu_invalidate_seq++ */
	atomic { STEP; mmu_writer = NONE }
}

/* ---- arch/x86/kvm/x86.c ---- */

/* the tail of __kvm_set_or_clear_apicv_inhibit: kick, store, zap */
inline apicv_update() {
	if
	:: (old_r != 0) != (new_r != 0) ->
		kvm_make_all_cpus_request();
		atomic { STEP; apicv_inhibit_reasons = new_r }
		if :: new_r != 0 -> kvm_zap_gfn_range() :: else -> skip fi
	:: else ->
		atomic { STEP; apicv_inhibit_reasons = new_r }
	fi
}

inline up_write() {
	atomic { STEP; lock_writer = NONE }
}

inline down_read() {
	atomic { lock_writer == NONE -> STEP; lock_readers++ }
}

inline up_read() {
	atomic { STEP; lock_readers-- }
}

/* __kvm_vcpu_update_apicv (no L2, APIC enabled in this configuration) */
inline kvm_vcpu_update_apicv() {
	down_read();
	atomic { STEP;
		flag = (apicv_inhibit_reasons == 0);
		res = (apicv_active[me] != flag && !flag);
		apicv_active[me] = flag
	}
	if :: res -> kvm_make_request(REQ_EVENT, me) :: else -> skip fi;
	up_read()
}

/* ---- arch/x86/kvm/svm/svm.c, the parts every version shares ---- */

inline svm_set_vintr() {
	atomic { STEP; WARN_ON(apicv_inhibit_reasons == 0) }   /* WARN_ON(kvm_vcpu_apicv_activated) */
	atomic { STEP; vintr_intercept[me] = 1; v_irq[me] = 1 }
}

inline svm_clear_vintr() {
	atomic { STEP; vintr_intercept[me] = 0; v_irq[me] = 0 }
}
