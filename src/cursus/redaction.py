"""Secret values are written where they are needed and nowhere else.

A config field is secret when its class marks it (`cursus.steps.configs.secret_field`) or when its
name says so (token, password, api_key, ...). The Plan lists each step's secret fields and the
environment variables they feed (`PlanStep.secrets`); everything that writes or shows a config or
an environment (MLflow params, execution documents, the dashboard, data lineage) passes it through
`redact`, which also hides the password of any URL (`https://user:pw@host` -> `https://user:***@host`).
The plan file itself keeps the values, since the steps run from it, and is readable only by its
owner when it holds one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

REDACTED = "***"
SECRET_NAME = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|credential|private[_-]?key)", re.IGNORECASE
)
URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*):[^/@\s]+@")


def is_secret_name(name: object, secrets: Collection[str] = ()) -> bool:
    return str(name) in secrets or bool(SECRET_NAME.search(str(name)))


def redact_text(text: str) -> str:
    """`text` with the password of every URL in it replaced."""
    return URL_PASSWORD.sub(rf"\g<head>:{REDACTED}@", text)


def redact(value: Any, secrets: Collection[str] = ()) -> Any:
    """A copy of `value` whose secret keys (named in `secrets`, or by their name) hold REDACTED
    and whose strings have no URL password; lists and dicts at any depth."""
    if isinstance(value, dict):
        return {
            k: REDACTED if is_secret_name(k, secrets) and v is not None else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
