"""``nnclf serve``: the application of :mod:`nnclf.serving.app` run by uvicorn.

Contract
--------
:func:`serve` loads the model, binds the port, then serves until SIGTERM or Ctrl-C, and
returns 0. In that order, so that a model that cannot be loaded, or a port that is taken or
not ours to bind, is one :class:`~nnclf.errors.UsageError` (or the model's own NnclfError)
before any client could connect. With ``workers`` > 1, uvicorn's supervisor starts that many
processes on the one socket, each loading the model once (:func:`nnclf.serving.app.app_from_environment`).

SIGTERM and Ctrl-C stop accepting connections, let the requests in flight finish (for up to
:data:`GRACE` seconds) and end the process with exit code 0: uvicorn's server would raise
the signal again once it stopped, which is kept from happening here.
"""

from __future__ import annotations

import signal
import socket
import threading
from contextlib import contextmanager

import uvicorn
from uvicorn.supervisors import Multiprocess

from nnclf.errors import UsageError
from nnclf.serving.app import create_app, load, settings_for_workers

__all__ = ["serve", "bind", "LOOPBACK", "GRACE"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
GRACE = 30
"""Seconds that requests in flight get to finish after SIGTERM or Ctrl-C."""
BACKLOG = 2048  # uvicorn's
_IN_USE = (98, 48, 10048)  # EADDRINUSE on Linux, macOS, Windows


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (as uvicorn binds one); a port in use or not
    ours to bind is a UsageError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    # IPPROTO_TCP named, as uvicorn names it: asyncio sets TCP_NODELAY only on the connections
    # of a socket that says so, and without it every keep-alive answer waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno in _IN_USE:
            why = "is in use; stop what listens there or choose another --port"
        else:
            why = f"cannot be bound ({e.strerror})"
        raise UsageError(f"--port {port}: {host}:{port} {why}") from None
    sock.listen(BACKLOG)  # from now on connections wait in line until a worker is ready
    sock.set_inheritable(True)
    return sock


def serve(
    target: str,
    host: str,
    port: int,
    workers: int,
    max_body: int,
    max_rows: int,
    quiet: bool,
    notify,
) -> int:
    """Serve the model ``target`` (a run directory or model file) until stopped; 0."""
    served = load(target, max_body, max_rows, quiet)
    sock = bind(host, port)
    if host not in LOOPBACK:
        notify(
            f"note: listening on {host}, reachable from other machines; nnclf serve has no "
            "authentication or TLS, so put it behind a proxy that has them"
        )
    shown = f"[{host}]" if ":" in host else host
    notify(
        f"serving {target} on http://{shown}:{sock.getsockname()[1]} "
        f"({workers} worker{'s' if workers > 1 else ''}); Ctrl-C or SIGTERM stops it"
    )
    options = dict(log_level="warning", access_log=False, timeout_graceful_shutdown=GRACE)
    if workers == 1:
        Server(uvicorn.Config(create_app(served), **options)).run(sockets=[sock])
    else:
        settings_for_workers(target, max_body, max_rows, quiet)
        config = uvicorn.Config(
            "nnclf.serving.app:app_from_environment", factory=True, workers=workers, **options
        )
        Multiprocess(config, sockets=[sock]).run()
    sock.close()
    return 0


class Server(uvicorn.Server):
    """uvicorn's server, except that the signal that stopped it is not raised again once it
    has stopped (which would end the process as killed by it, not with exit code 0)."""

    @contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        before = {s: signal.signal(s, self.handle_exit) for s in signals}
        try:
            yield
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)
