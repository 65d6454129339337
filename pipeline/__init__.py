"""Multimodal sentiment analysis from raw video to explained predictions, built around DSRF."""
import os

# OpenMP threads waiting for work spin only briefly (torch's own OpenMP, GNU libgomp, spins 300,000
# rounds by default). Where two runs, or anyone's jobs, share the cores, long spins steal the cores
# from each other: two training runs side by side on 2 cores took 4x longer per epoch; with short
# spins, 2x, and a run alone is as fast as before (bench/threads.py, docs/training.md "Threads"). Set here
# because OpenMP reads it once, when torch loads; a value the user set wins, and so does
# OMP_WAIT_POLICY. The thread counts themselves: pipeline/threads.py.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "2000")

__version__ = "0.1.0"
