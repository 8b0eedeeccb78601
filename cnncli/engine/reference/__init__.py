"""Naive loop versions of the engine's ops: the teaching versions and the tests' oracles."""
