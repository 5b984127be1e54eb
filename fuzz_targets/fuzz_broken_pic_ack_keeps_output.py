"""Atheris target for ``broken-pic-ack-keeps-output`` (fuzz_generic.py with it fixed).

Run: python fuzz_targets/fuzz_broken_pic_ack_keeps_output.py [libFuzzer flags] [CORPUS ...]
"""

from fuzz_generic import main

if __name__ == "__main__":
    main(impl="broken-pic-ack-keeps-output")
