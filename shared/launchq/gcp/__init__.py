"""Google Cloud deployment: launchq's one edge to Google's client libraries (``errors``) and,
as the GCP slice grows, the settings and wiring of the Cloud Functions.

Nothing here imports a Google module when it loads: the SDK comes in on the first call, so
an AWS Lambda or a local server that never speaks to Google Cloud never loads it.
"""
