"""data: datasets (datasets.py), the DataLoader (loader.py) and batch transforms."""
