"""launchq: a self-hosted, serverless, multi-cloud launcher for ML jobs (W&B Launch compatible)."""

__version__ = "0.1.0"
