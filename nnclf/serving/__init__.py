"""Serving: a trained model behind HTTP, speaking MLflow's scoring protocol (``nnclf serve``).

Contract
--------
- :mod:`~nnclf.serving.payload`  a request body (MLflow's JSON forms, CSV) read as the rows
  ``nnclf predict`` reads, or refused with a status, an error code and the CLI's wording
- :mod:`~nnclf.serving.app`      the FastAPI application: endpoints, refusals, access log
- :mod:`~nnclf.serving.server`   uvicorn run on a socket bound after the model loaded; workers;
  SIGTERM and Ctrl-C finish the requests in flight and exit 0

Needs the serve extra (FastAPI and uvicorn): ``pip install "nnclf[serve]"``; only
:mod:`nnclf.cli` imports this package, once ``nnclf serve`` was asked for.
"""
