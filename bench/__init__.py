"""Benchmark scenarios behind `spillway bench` (see bench/README.md)."""
