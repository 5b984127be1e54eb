/*
 * The vCPU thread (KVM_RUN), the guest, and the property. Included last by a
 * version file, which has defined: svm_enable_irq_window(), svm_inject_irq(),
 * interrupt_window_interception().
 */

/* kvm_check_and_inject_events, IRQ part; sets rie (req_immediate_exit) */
inline kvm_check_and_inject_events() {
	rie = 0;
	if
	:: injected[me] ->
		svm_inject_irq();
		atomic { STEP; rie = extint[me] }
	:: else ->
		atomic { STEP; has = extint[me] }
		if
		:: has ->
			if
			:: guest_if[me] ->
				atomic { STEP; extint[me] = 0; injected[me] = 1 }
				svm_inject_irq();
				atomic { STEP; has = extint[me] }
			:: else -> skip
			fi;
			if :: has -> svm_enable_irq_window() :: else -> skip fi
		:: else -> skip
		fi
	fi
}

/* the guest between VMRUN and #VMEXIT; AVIC ignores V_IRQ */
inline guest_window(out) {
	out = (v_irq[me] && vintr_intercept[me] && guest_if[me] && !apicv_active[me])
}

inline vcpu_run() {
	atomic { STEP;
		if
		:: mode[me] == EXITING -> exit_reason = EXIT_INTR; done = 0
		:: else ->
			if :: injected[me] -> injected[me] = 0; delivered++ :: else -> skip fi;
			guest_window(flag);
			if
			:: flag -> exit_reason = EXIT_VINTR; done = 0
			:: else ->
				done = 1;
				exit_reason = EXIT_HLT;
				if
				:: op == OP_STI ->
					guest_if[me] = 1;
					guest_window(flag);
					if :: flag -> exit_reason = EXIT_VINTR :: else -> skip fi
				:: else -> skip
				fi
			fi
		fi;
		mode[me] = OUTSIDE;
		ipi_pending[me] = 0
	}
}

/* vcpu_enter_guest; sets done once the guest action op was carried out */
inline vcpu_enter_guest() {
	kvm_check_request(REQ_APICV_UPDATE, res);
	if :: res -> kvm_vcpu_update_apicv() :: else -> skip fi;
	kvm_check_request(REQ_EVENT, res);
	if :: res -> kvm_check_and_inject_events() :: else -> rie = 0 fi;
	atomic { STEP; mode[me] = IN_GUEST }
	atomic { STEP;
		res = (mode[me] == EXITING || requests[me] != 0);
		if :: res -> mode[me] = OUTSIDE; ipi_pending[me] = 0 :: else -> skip fi
	}
	if
	:: res ->
		if :: rie -> kvm_make_request(REQ_EVENT, me) :: else -> skip fi;
		done = 0
	:: else ->
		if :: rie -> kvm_make_request(REQ_EVENT, me) :: else -> skip fi;
		/* WARN_ON_ONCE(kvm_vcpu_apicv_activated != kvm_vcpu_apicv_active) */
		atomic { STEP; WARN_ON((apicv_inhibit_reasons == 0) != apicv_active[me]) }
		vcpu_run();
		if :: exit_reason == EXIT_VINTR -> interrupt_window_interception() :: else -> skip fi
	fi
}

proctype vcpu(byte me; byte op0; byte op1; byte nops) {
	byte pc = 0, op, exit_reason, delivered = 0;
	byte old_r, new_r;
	bit res, rie, has, flag, done, t0, t1;
	do
	:: pc < nops ->
		op = (pc == 0 -> op0 : op1);
		vcpu_enter_guest();
		if :: done -> pc++ :: else -> skip fi
	:: else -> break
	od;
	/* vcpu_idle: wake on a request, or finish at quiescence */
	idle[me] = 1;
	do
	:: atomic {
		(requests[me] != 0 ||
		 ((idle[0] || finished[0]) && (idle[1] || finished[1]) &&
		  requests[0] == 0 && requests[1] == 0)) ->
		STEP;
		if
		:: requests[me] != 0 -> idle[me] = 0; res = 1
		:: else -> finished[me] = 1; res = 0
		fi
	   }
		if
		:: res -> op = OP_RUN; vcpu_enter_guest(); idle[me] = 1
		:: else -> break
		fi
	od
}

init {
	atomic {
		apicv_active[0] = 1; apicv_active[1] = 1;
		extint[0] = 1; extint[1] = 1;
		requests[0] = REQ_EVENT; requests[1] = REQ_EVENT;
		apic_spte = 0;
		run vcpu(0, OP_STI, OP_RUN, 1);
		run vcpu(1, OP_RUN, OP_STI, 2)
	}
	(finished[0] && finished[1]);
	/* the oracle's lost-window check at quiescence, for each vCPU: an ExtINT
	 * still pending must have V_IRQ armed and honoured (AVIC off) */
	assert(injected[0] || !extint[0] || (v_irq[0] && vintr_intercept[0] && !apicv_active[0]));
	assert(injected[1] || !extint[1] || (v_irq[1] && vintr_intercept[1] && !apicv_active[1]))
}
