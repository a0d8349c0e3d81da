"""The Twilio-style HTTP call that sends one SMS (adapter: transport only)."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request

from ticketing.models import SmsProvider

TIMEOUT_SECONDS = 10


def send(provider: SmsProvider, *, to: str, body: str) -> str:
    """POST the message; returns the provider's message id. Raises on any non-2xx answer."""
    url = f"{provider.base_url.rstrip('/')}/Accounts/{urllib.parse.quote(provider.account_id)}/Messages.json"
    if not url.startswith(("https://", "http://")):
        raise ValueError("the SMS provider URL must be http(s)")
    data = urllib.parse.urlencode({"To": to, "From": provider.from_number, "Body": body}).encode()
    auth = base64.b64encode(f"{provider.account_id}:{provider.auth_token}".encode()).decode()
    request = urllib.request.Request(url, data=data, method="POST",  # noqa: S310 - admin-configured http(s) URL
                                     headers={"Authorization": f"Basic {auth}",
                                              "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        answer = json.loads(response.read(65536) or b"{}")
    return str(answer.get("sid") or answer.get("id") or "")
