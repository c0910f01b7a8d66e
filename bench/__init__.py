"""Benchmarks (not part of the tests or CI): `python -m bench.<script>`; see bench/README.md."""
