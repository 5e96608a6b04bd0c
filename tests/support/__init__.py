"""Support code for the tests and the benchmarks: a real hub process, its test config,
and Docker and browser helpers. Imported as ``tests.support...`` from the repository root
(pytest's ``pythonpath``; ``python -m benchmarks.run_all`` runs from the root)."""

from pathlib import Path

# The repository root, whatever the depth of the test that asks.
ROOT = Path(__file__).resolve().parent.parent.parent
