"""Naive references: the seed's formulas written as literal loops.

They are the teaching version of the engine's ops (:mod:`.conv`, :mod:`.pool`)
and the oracles its tests compare the fast paths with.  They are slow on
purpose: read them, don't run them on real images.
"""
