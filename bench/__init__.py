"""Benchmarks of the photo pipeline and the grid index: `make bench` runs them and prints `figure:` lines."""
