"""Reading a user's JSON file (DAG, config, plan, execution document) with errors that name it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cursus.errors import CursusError

# far beyond any DAG, config, plan or execution document, far below Python's recursion limit
MAX_DEPTH = 64


def read_json_file(
    path: str | Path, error: type[CursusError], kind: str, missing_hint: str = ""
) -> Any:
    """The parsed file; every way reading it can fail becomes `error` naming the file and the fix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise error(
            f"{path}: nested too deeply to read (lists and objects inside each other more than "
            f"~1000 levels); a {kind} is accepted up to {MAX_DEPTH} levels"
        ) from None
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
    if depth_of(data) > MAX_DEPTH:
        raise error(
            f"{path}: nested more than {MAX_DEPTH} levels deep; a {kind} is accepted up to "
            f"{MAX_DEPTH} levels, so it is refused before anything walks it"
        )
    return data


def depth_of(value: Any) -> int:
    """How deep lists and objects nest in `value` (a scalar is 0), without recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest
