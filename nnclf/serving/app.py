"""The HTTP application of ``nnclf serve``: MLflow's scoring endpoints for one loaded model.

Contract
--------
:func:`create_app` makes the FastAPI application of a :class:`Served` model (the model, its
card and the server's limits); :func:`app_from_environment` makes it in a worker process
from the settings :func:`settings_for_workers` put in the environment (each worker loads the
model once, when it starts).

- ``GET /ping``, ``GET /health``: 200 ``{"status": "ok"}`` (the model is loaded before the
  application exists).
- ``GET /version``: nnclf's version, as text.
- ``GET /metadata``: the model card of ``nnclf info --json``.
- ``POST /invocations``: a body :func:`nnclf.serving.payload.read_request` reads;
  ``{"predictions": [{"label": ..., "probabilities": {class: p, ...}}, ...]}`` in input
  order, with exactly the labels and p(k|x) of ``nnclf predict`` (each float written in the
  shortest form that reads back as the same float64).

A refused request is ``{"error_code": ..., "message": ...}`` with status 400 (the body is
not JSON or not UTF-8: ``MALFORMED_REQUEST``; anything else wrong with it: ``BAD_REQUEST``),
413 (``RESOURCE_LIMIT_EXCEEDED``: more than ``max_body`` bytes or ``max_rows`` rows), 415 (an
unsupported content type), 404 or 405 (no such endpoint or method). 500
(``INTERNAL_ERROR``) would be a bug in nnclf: its traceback goes to stderr. Unless ``quiet``,
each request is one line on stderr: method, path, status, rows, milliseconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from nnclf.base.version import __version__
from nnclf.errors import NnclfError
from nnclf.serving.payload import Refusal, media_type, read_request

__all__ = ["Served", "load", "create_app", "app_from_environment", "settings_for_workers"]

ENVIRONMENT = "NNCLF_SERVE"
"""The environment variable that carries the settings to the worker processes (JSON)."""


@dataclass(frozen=True)
class Served:
    """A model being served: the loaded model, its card, and the server's limits."""

    model: object
    card: dict
    max_body: int
    max_rows: int
    quiet: bool = False


def load(target: str, max_body: int, max_rows: int, quiet: bool = False) -> Served:
    """The model of a run directory or model file, loaded as ``nnclf predict`` loads it; a
    model that cannot be loaded is an NnclfError naming it."""
    from nnclf.runs import card as model_card
    from nnclf.runs.run import open_model

    model, _, _ = open_model(target)
    return Served(model, model_card.model_card(target), max_body, max_rows, quiet)


def settings_for_workers(target: str, max_body: int, max_rows: int, quiet: bool) -> None:
    """Put what :func:`app_from_environment` needs into the environment workers inherit."""
    os.environ[ENVIRONMENT] = json.dumps(
        {"target": str(target), "max_body": max_body, "max_rows": max_rows, "quiet": quiet}
    )


def app_from_environment() -> FastAPI:
    """The application of a worker process (uvicorn's factory)."""
    return create_app(load(**json.loads(os.environ[ENVIRONMENT])))


def create_app(served: Served) -> FastAPI:
    """The FastAPI application answering for ``served``."""
    app = FastAPI(title="nnclf", docs_url=None, redoc_url=None, openapi_url=None)
    ok = lambda: JSONResponse({"status": "ok"})
    app.get("/ping")(ok)
    app.get("/health")(ok)
    app.get("/version")(lambda: PlainTextResponse(__version__))
    app.get("/metadata")(lambda: JSONResponse(served.card))

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        try:
            kind = media_type(request.headers.get("content-type"))
            body = await _body(request, served.max_body)
            content, rows = await run_in_threadpool(predictions, served, body, kind)
        except Refusal as e:
            return refusal(e.status, e.code, e.message)
        except ClientDisconnect:  # gone before its body came: nobody to answer
            return Response(status_code=400)
        request.state.rows = rows
        return Response(content, media_type="application/json")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> Response:
        code = {404: "ENDPOINT_NOT_FOUND"}.get(e.status_code, "BAD_REQUEST")
        return refusal(e.status_code, code, f"{e.detail}: {request.method} {request.url.path}")

    if not served.quiet:
        app.middleware("http")(_access_log)
    return app


def refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to be over ``limit`` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> Refusal:
    return Refusal(
        413,
        "RESOURCE_LIMIT_EXCEEDED",
        f"the body has {'more than ' if size > limit else ''}{size} bytes, more than "
        f"--max-body {limit}; send the rows in smaller batches",
    )


def predictions(served: Served, body: bytes, kind: str) -> tuple[bytes, int]:
    """The JSON answer to a body and its number of rows; a fault of the request is a
    Refusal, one of nnclf a 500 with its traceback on stderr."""
    try:
        X = read_request(served.model, body, kind, served.max_rows)
        if X is None:
            return b'{"predictions": []}', 0
        proba = served.model.predict_proba(X)
    except Refusal:
        raise
    except NnclfError as e:
        raise Refusal(400, "BAD_REQUEST", " ".join(str(e).split())) from None
    except Exception:
        traceback.print_exc()
        raise Refusal(
            500,
            "INTERNAL_ERROR",
            f"a bug in nnclf {__version__}; the server's log has its traceback",
        ) from None
    classes = [str(c) for c in served.model.classes.tolist()]
    labels = served.model.classes[np.argmax(proba, axis=1)].tolist()
    answer = [
        {"label": label, "probabilities": dict(zip(classes, p))}
        for label, p in zip(labels, proba.tolist())
    ]
    return json.dumps({"predictions": answer}).encode(), len(answer)


async def _access_log(request: Request, call_next) -> Response:
    """One line per request on stderr: method, path, status, rows, milliseconds."""
    start = time.perf_counter()
    response = await call_next(request)
    ms = (time.perf_counter() - start) * 1000
    rows = getattr(request.state, "rows", 0)
    sys.stderr.write(
        f"nnclf: {request.method} {request.url.path} {response.status_code} "
        f"{rows} rows {ms:.1f} ms\n"
    )
    sys.stderr.flush()
    return response
