"""Benchmarks for resettable-spawner: each measures against a baseline in the same run.

Run them with ``make bench`` (or ``python -m benchmarks.run_all``); see run_all.py.
"""
