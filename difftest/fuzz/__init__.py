"""Coverage-guided fuzzing support that does not need Atheris: decoding fuzzer
bytes into a run, concurrency feedback, and crash triage.

``difftest.fuzz.target`` is the only module here that imports Atheris, and only
inside the function that starts libFuzzer.
"""

# Modules Atheris must not instrument: the fuzzing machinery itself, whose lines
# say nothing about the model (exact names: Atheris matches them exactly).
NOT_INSTRUMENTED = (
    "difftest.fuzz",
    "difftest.fuzz.decode",
    "difftest.fuzz.feedback",
    "difftest.fuzz.harness",
    "difftest.fuzz.target",
    "difftest.fuzz.triage",
    "difftest.schedulers.bytes",
)
