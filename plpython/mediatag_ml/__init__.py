"""mediatag's machine learning inside PostgreSQL (PL/Python).

The numeric modules (calibration, training, active, sampling, metrics, ...) take arrays and return arrays, with
no database access. The sql_* modules are the bodies of the extension's PL/Python functions, one module per
sql/src file: they are given `plpy` (and the function's SD), fetch embeddings, call the numeric modules and store
what they return. Bulk scoring stays in SQL as sigmoid(x·w + b) over pgvector inner products.

The names below are imported on first use, not with the package: sql_embed and sql_ui need only the standard
library, and a session that only embeds a search query should not pay seconds for numpy and scipy.
"""

from importlib import import_module
from typing import Any

# Public name → the module that defines it.
_EXPORTS = {
    "Classifier": "classifier",
    "best_threshold": "metrics",
    "dedupe_near": "sampling",
    "per_bucket": "sampling",
    "sigmoid": "classifier",
    "stratified_sample": "sampling",
    "threshold_metrics": "metrics",
    "train_with_labels": "training",
    "uncertain_diverse": "sampling",
    "zero_shot": "calibration",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # Also how `from mediatag_ml import <submodule>` learns that it has to import the submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # found directly from now on
    return value
