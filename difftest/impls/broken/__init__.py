"""Deliberately broken versions: each one documents what it changes and which
interleaving breaks it, and the tests pin the finding that names its consequence."""
