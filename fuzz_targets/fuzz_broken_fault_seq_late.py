"""Atheris target for ``broken-fault-seq-late`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_fault_seq_late.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-fault-seq-late")
