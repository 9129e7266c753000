"""Is a process still running? Shared by the step watchdog, the run records and the MLflow server
manager. Standard library only: the fork server preloads it with the step launcher."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """False once `pid` has exited, including as a zombie: a killed runner whose parent has not
    reaped it yet still answers `kill(pid, 0)`, so that alone cannot tell."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(pid, 0) is all there is
    return state not in ("Z", "X")
