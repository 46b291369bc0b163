"""Vectorized numpy/pandas kernels, wrapped once as pandas UDFs by the jobs."""
