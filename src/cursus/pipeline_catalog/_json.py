"""JSON as the catalog writes it: indented, with short lists kept on one line."""

from __future__ import annotations

import json
from typing import Any

WIDTH = 100


def dumps(data: Any) -> str:
    return _dump(data, 0, 0) + "\n"


def _dump(value: Any, indent: int, column: int) -> str:
    """`column` is where the value starts on its line: a list fits on one line or gets one item per line."""
    pad = " " * indent
    inner = " " * (indent + 2)
    if isinstance(value, dict) and value:
        items = []
        for key, item in value.items():
            head = f"{inner}{json.dumps(key)}: "
            items.append(head + _dump(item, indent + 2, len(head)))
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        flat = json.dumps(value, ensure_ascii=False)
        if "{" not in flat and column + len(flat) + 1 <= WIDTH:
            return flat
        items = [f"{inner}{_dump(v, indent + 2, len(inner))}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)
