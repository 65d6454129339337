"""Multimodal sentiment analysis from raw video to explained predictions, built around DSRF."""
__version__ = "0.1.0"
