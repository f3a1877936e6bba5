"""Helpers of cissreg's test suite: float64 references, toy components, tiny config adapters.

Nothing here is imported by ``import cissreg``; a module registers its toy components in
cissreg's registries when it is imported (``custom_imports`` in a test config, or a test).
"""
