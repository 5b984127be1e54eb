"""A user's own patch as a plugin: coverage of its change, its mutants, and
``difftest new``'s scaffold from kernel function names or a kernel diff.

The front-ends (``check``, ``explore``, ``fuzz``, ``new``, the pytest plugin)
use these; nothing in the engine, model or oracle does.
"""
