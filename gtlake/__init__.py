"""gtlake: a label-quality data lake for SageMaker Ground Truth."""

__version__ = "0.1.0"


def read(name: str, lake: str | None = None, **kwargs):  # noqa: ANN003, ANN201 - see gtlake.reader.read
    """A lake table or view as a pandas DataFrame (DuckDB over a local lake, or Athena): `gtlake.reader.read`."""
    from gtlake.reader import read as _read

    return _read(name, lake, **kwargs)
