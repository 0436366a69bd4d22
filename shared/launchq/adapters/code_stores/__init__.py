"""Backends of ``launchq.build.code_store.CodeStore`` beyond the local directory one (S3)."""
