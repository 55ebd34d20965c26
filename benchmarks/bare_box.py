"""The bare GPU box: what the lent GPU machine has (DESIGN.md, "the lent GPU machine"), and
demucs, carried there for the separation rows. benchmarks/gpu.py reports these packages'
versions; tests/test_benchmarks.py runs it with every other installed package hidden."""

BARE_BOX = ("torch", "transformers", "accelerate", "pyarrow", "numpy", "demucs")
