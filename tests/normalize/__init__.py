"""Tests of the pure ARGOS normalization core."""
