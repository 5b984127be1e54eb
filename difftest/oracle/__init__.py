"""The specification and the checks that compare a run against it."""
