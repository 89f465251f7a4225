"""Benchmarks: every figure the README quotes, and the randomly initialised real-size models they use."""
