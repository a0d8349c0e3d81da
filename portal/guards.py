"""Who is asking: the signed-in contact, or a redirect to sign-in."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import redirect, request, url_for
from flask_login import current_user

from ticketing.models import Contact


def current_contact() -> Contact | None:
    user = current_user._get_current_object() if current_user.is_authenticated else None
    return user if isinstance(user, Contact) else None


def contact_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        contact = current_contact()
        if contact is None:
            if request.headers.get("HX-Request"):
                return "", 401  # a poll from an expired session: no page to swap in
            return redirect(url_for("portal.login", next=request.full_path.rstrip("?")))
        return view(contact, *args, **kwargs)

    return wrapper
