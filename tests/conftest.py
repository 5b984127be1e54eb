"""The suite uses pytest's own ``pytester`` to run the difftest plugin."""

pytest_plugins = ["pytester"]
