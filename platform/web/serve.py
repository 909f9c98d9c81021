"""The production WSGI server (waitress): many threads, so a long Server-Sent Events
stream holds one thread and never blocks other requests."""
from __future__ import annotations

import logging

from flask import Flask


def run(app: Flask, host: str, port: int, threads: int = 32) -> None:
    from waitress import serve

    logging.getLogger("waitress").setLevel(logging.INFO)
    serve(app, host=host, port=port, threads=threads, channel_timeout=120,
          connection_limit=1000, ident="callboard")
