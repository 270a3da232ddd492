"""The network side of the services the deployment tests start: a free port, an HTTP JSON endpoint."""

from __future__ import annotations

import json


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, body=None, timeout: float = 10):
    """GET (or POST body as JSON to) url and return the decoded JSON answer; None when it fails."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (127.0.0.1)
            return json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None
