"""Speed and memory of cnncli's engine side by side with PyTorch: ``python -m benchmarks.run``."""
