"""Benchmarks of the suite itself: run each as `.venv/bin/python -m benchmarks.<name>`."""
