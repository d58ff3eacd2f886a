"""Plain HTTP calls against the live test server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request


def post_json(url: str, payload: object, timeout: float = 10) -> tuple[int, dict, float]:
    """POST JSON; return (status, decoded body, seconds taken)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw or b"{}"), time.perf_counter() - started
