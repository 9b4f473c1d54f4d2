"""Tests of the benchmark's pure parts (bench/): samples, variants, targets, profiles."""
