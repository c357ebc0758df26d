"""Benchmark peers of Atrium's staff ticket list (issue 19): see README.md."""
