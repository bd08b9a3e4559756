"""`python -m benchmarks`: the suite in run.py."""

from benchmarks.run import main

main()
