"""Support code for the tests and the benchmarks: a real hub process, its test config,
and Docker helpers. Imported as ``tests.support...`` from the repository root."""
