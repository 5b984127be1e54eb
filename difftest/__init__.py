"""difftest: differential testing of KVM APICv/AVIC inhibit logic."""
