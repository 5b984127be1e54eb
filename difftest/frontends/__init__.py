"""Front-ends: command line, pytest plugin, fuzz drivers.

They import the core; the core never imports them.
"""
