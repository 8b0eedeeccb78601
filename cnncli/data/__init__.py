"""Package data: the built-in digit-8 image (made by samples/make_samples.py)."""
