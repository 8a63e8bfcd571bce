"""Benchmarks: the pipeline against raw-aiokafka and naive-Faust baselines, in one run."""
