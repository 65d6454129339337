"""Feature extraction: one clip in, the modality feature sequences out."""
