"""Naive references: the seed's formulas written as literal loops.

They are the teaching version of the engine's ops (:mod:`.conv`, :mod:`.pool`,
:mod:`.resize_norm` for interpolate and group_norm)
and the oracles its tests compare the fast paths with.  They are slow on
purpose: read them, don't run them on real images.
"""
