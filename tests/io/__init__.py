"""Tests of cnncli.io: loaders, writers, samples, hostile input."""
