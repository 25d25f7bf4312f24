"""Structured datasets (moved to :mod:`shimtask_core.literals.datasets`); the old path works."""

from .literals.datasets import (
    DATASETS,
    PARQUET,
    PART_NAME,
    DatasetRef,
    dataset_decoder,
    dataset_filler,
    import_pyarrow,
    is_pandas_dataframe,
    read_table,
    table_type,
)

__all__ = [
    "DATASETS",
    "PARQUET",
    "PART_NAME",
    "DatasetRef",
    "dataset_decoder",
    "dataset_filler",
    "import_pyarrow",
    "is_pandas_dataframe",
    "read_table",
    "table_type",
]
