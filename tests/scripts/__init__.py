"""Tests of the developer scripts in scripts/ (topic creation, `make run`)."""
