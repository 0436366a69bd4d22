"""Backends of the ``launchq.ports.CodeStore`` port: a local directory (``local``), S3 (``s3``)."""
