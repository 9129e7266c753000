"""Reading a user's JSON file (DAG, config, plan, execution document) with errors that name it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cursus.errors import CursusError


def read_json_file(
    path: str | Path, error: type[CursusError], kind: str, missing_hint: str = ""
) -> Any:
    """The parsed file; every way reading it can fail becomes `error` naming the file and the fix."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = f"; {missing_hint}" if missing_hint else ""
        raise error(f"{path}: no such {kind}{hint}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file; a {kind} is UTF-8 JSON") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror}); pass a {kind}") from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix the "
            "syntax there"
        ) from None
