"""The one check every user-given name passes before it becomes part of a path or a record key.

A deployment, project or run name is joined to a workspace folder; `../../x` would reach outside
it. A plain name here is 1-128 letters, digits, '.', '_' and '-', starting with a letter or digit:
no separator, no '..', nothing a shell or a URL would read differently.
"""

from __future__ import annotations

import re

from cursus.errors import CursusError

PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class NameError_(CursusError):
    """A user-given name that is not a plain name."""


def plain_name(name: object, what: str) -> str:
    """`name` itself when it is a plain name; otherwise an error naming `what` and the rule."""
    if not isinstance(name, str) or not PLAIN_NAME.match(name) or ".." in name:
        raise NameError_(
            f"{what} {name!r} is not a plain name: use 1-128 letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (no '/', no '..')"
        )
    return name
