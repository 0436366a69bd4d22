"""Azure deployment: launchq's one edge to the Azure SDKs' errors (``errors``), the Function
App's settings (``settings``), composition root (``wiring``), HTTP door (``http``) and event
handlers (``events``); the entry points are ``functions/azure/function_app.py``.

Nothing here imports an Azure module when it loads: the SDK comes in when a service is built
or a call is made, so an AWS Lambda, a Cloud Function or a local server never loads it.
"""
