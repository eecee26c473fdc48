"""Benchmarks of Yunbao, run with `python -m bench` or one module at a time."""
