"""CLIR collections through ir_datasets."""
from __future__ import annotations


class DatasetUnavailableError(OSError):
    """An ir_datasets collection that cannot be read here (usually: it must be downloaded, and we are offline)."""


def explain_download_failure(dataset_id: str, error: Exception) -> DatasetUnavailableError:
    """A short, actionable error for a collection that could not be loaded."""
    return DatasetUnavailableError(
        f"could not load ir_datasets collection {dataset_id!r} ({error.__class__.__name__}: {str(error)[:200]}). "
        "It is probably not downloaded yet and this machine cannot reach its source: run once on a machine with "
        "network (the files land in ~/.ir_datasets, or $IR_DATASETS_HOME, which you can copy here), or use the "
        "shipped collections (optical/ui/...) or register_local(...) for your own files.")
