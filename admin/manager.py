"""Manager pages: open load per team and per agent."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_admin import expose

from admin.base import StaffView
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import db
from ticketing.services import routing


class LoadView(StaffView):
    roles = frozenset({StaffRole.MANAGER, StaffRole.ADMIN})

    @expose("/")
    def index(self) -> ResponseReturnValue:
        teams, agents = routing.team_load(db.session), routing.agent_load(db.session)
        return self.render("agent/load.html", teams=teams, agents=agents)
