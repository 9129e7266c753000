"""The one check every user-given name passes before it becomes part of a path or a record key.

A deployment, project or run name is joined to a workspace folder; `../../x` would reach outside
it. A plain name here is 1-128 letters, digits, '.', '_' and '-', starting with a letter or digit:
no separator, no '..', nothing a shell or a URL would read differently.
"""

from __future__ import annotations

import re

from cursus.errors import CursusError

PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# an orchestrator's run id (Airflow: manual__2026-12-02T10:00:00+00:00) may hold ':' and '+'
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,200}$")


class NameError_(CursusError):
    """A user-given name that is not a plain name."""


def plain_name(name: object, what: str, pattern: re.Pattern[str] = PLAIN_NAME) -> str:
    """`name` itself when it is a plain name; otherwise an error naming `what` and the rule.
    `pattern` widens the characters (RUN_ID), never the rules against '/' and '..'."""
    if not isinstance(name, str) or not pattern.match(name) or ".." in name or "/" in name:
        rule = RULES.get(pattern.pattern, "letters, digits, '.', '_' and '-'")
        raise NameError_(
            f"{what} {name!r} is not a plain name: use {rule}, starting with a letter or digit "
            "(no '/', no '..')"
        )
    return name


RULES = {
    PLAIN_NAME.pattern: "1-128 letters, digits, '.', '_' and '-'",
    RUN_ID.pattern: "1-201 letters, digits, '.', '_', '-', ':' and '+'",
}


def run_id(name: object) -> str:
    """A run id given by a user or an orchestrator, checked before it names a folder."""
    return plain_name(name, "run id", RUN_ID)
