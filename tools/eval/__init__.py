"""Evaluation harness: a synthetic corpus with exactly known beats, metrics and a runner."""
