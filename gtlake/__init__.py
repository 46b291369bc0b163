"""gtlake: a label-quality data lake for SageMaker Ground Truth."""

__version__ = "0.1.0"
