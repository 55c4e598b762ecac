"""mediatag's machine learning inside PostgreSQL (PL/Python): arrays in, arrays out, no database access.

The SQL layer fetches embeddings, calls these functions and stores the returned weights; bulk scoring
stays in SQL as sigmoid(x·w + b) over pgvector inner products.
"""

from .calibration import zero_shot
from .classifier import Classifier, sigmoid
from .metrics import best_threshold, threshold_metrics
from .sampling import dedupe_near, per_bucket, stratified_sample, uncertain_diverse
from .training import train_with_labels

__all__ = [
    "Classifier",
    "best_threshold",
    "dedupe_near",
    "per_bucket",
    "sigmoid",
    "stratified_sample",
    "threshold_metrics",
    "train_with_labels",
    "uncertain_diverse",
    "zero_shot",
]
