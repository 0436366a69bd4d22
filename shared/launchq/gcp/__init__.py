"""Google Cloud deployment: launchq's one edge to Google's client libraries (``errors``), the
Cloud Functions' settings (``settings``), composition root (``wiring``), HTTP door (``http``)
and event handlers (``events``); the entry points are ``functions/gcp/main.py``.

Nothing here imports a Google module when it loads: the SDK comes in when a service is built
or a call is made, so an AWS Lambda or a local server that never speaks to Google Cloud never
loads it.
"""
