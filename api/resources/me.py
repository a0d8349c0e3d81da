"""Who the token speaks for."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api import presenters
from api.auth import principal
from api.openapi import route


def register(bp: Blueprint) -> None:
    @route(bp, "/me", "GET", summary="The token and its owner", tag="Meta", response="Me")
    def me() -> ResponseReturnValue:
        who = principal()
        return jsonify(
            {
                "kind": "staff" if who.is_staff else "customer",
                "token": presenters.token(who.token),
                "user": presenters.user(who.user) if who.user is not None else None,
                "contact": presenters.contact(who.contact, staff=False) if who.contact is not None else None,
            }
        )
