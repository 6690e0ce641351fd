"""HTTP webhook sink: POST each notification as JSON (SMS and e-mail gateways plug in here).

With a secret, the body is signed: ``X-Citywatch-Signature: sha256=<hex HMAC>``.
A non-2xx answer or a timeout is a failure, retried by the outbox with backoff. Delivery is at
least once: a receiver keeps the first of each ``notification_id`` (see :mod:`alerts.outbox`), which
is also sent as the ``Idempotency-Key`` header, where gateways that drop repeats look for it.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx
import orjson


class WebhookRefused(Exception):
    """The receiver answered with an error status. Its message names the status only: the URL, which may
    carry the gateway's token, stays out of logs and of the outbox's last error."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".rstrip())
        self.status = status


class Webhook:
    def __init__(self, url: str, *, secret: str | None = None, timeout_s: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.client = httpx.Client(timeout=timeout_s)

    def __call__(self, kind: str, payload: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Citywatch-Kind": kind}
        body = orjson.loads(payload)
        nid = body.get("notification_id") if isinstance(body, dict) else None
        if nid is not None:
            headers["Idempotency-Key"] = str(nid)
        if self.secret:
            mac = hmac.new(self.secret.encode(), payload, hashlib.sha256).hexdigest()
            headers["X-Citywatch-Signature"] = f"sha256={mac}"
        try:
            r = self.client.post(self.url, content=payload, headers=headers)
        except httpx.HTTPError as e:  # (its text does not carry the URL; its request does, and stays here)
            raise ConnectionError(f"{type(e).__name__}: {e}") from None
        if r.is_error:
            raise WebhookRefused(r.status_code, r.reason_phrase)

    def close(self) -> None:
        self.client.close()
