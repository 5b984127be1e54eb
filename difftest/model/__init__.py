"""The modelled world: KVM's state and the scenarios that drive it."""
