"""Coverage-guided fuzzing support that does not need Atheris: decoding fuzzer
bytes into a run, concurrency feedback, and crash triage.

``difftest.fuzz.target`` imports Atheris only inside the function that starts
libFuzzer; ``difftest.fuzz.generic_target`` (the file libFuzzer runs) imports it
at once. ``seed_corpus/IMPL/`` holds the seed inputs, shipped as package data.
"""

# Modules Atheris must not instrument: the fuzzing machinery itself, whose lines
# say nothing about the model (exact names: Atheris matches them exactly).
NOT_INSTRUMENTED = (
    "difftest.files",
    "difftest.fuzz",
    "difftest.fuzz.decode",
    "difftest.fuzz.feedback",
    "difftest.fuzz.generic_target",
    "difftest.fuzz.harness",
    "difftest.fuzz.target",
    "difftest.fuzz.triage",
    "difftest.schedulers.bytes",
)
