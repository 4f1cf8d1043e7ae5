"""Small real models trained on the bundled data sets, for examples, tests and benchmarks."""
