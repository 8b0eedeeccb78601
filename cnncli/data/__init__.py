"""Package data: the built-in digit-8 image (samples/make_samples.py) and the built-in
datasets mnist-5k and digits (scripts/make_datasets.py; sources and licences in DATASETS.md)."""
