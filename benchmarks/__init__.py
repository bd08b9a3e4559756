"""minigrad's benchmark suite: `python -m benchmarks [--quick] [--only NAME ...]` from the repo
root. Start with README.md, then run.py (the suite), models.py and numpy_cnn.py (references)."""
