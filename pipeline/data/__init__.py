"""Datasets: importers, the memory-mapped tensor store, and batches for the model."""
