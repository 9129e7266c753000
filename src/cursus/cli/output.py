"""Output helpers every command module shares."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from cursus.errors import CursusError


def write_or_print(text: str, output: str | None) -> None:
    """Write `text` to `output` (saying so on stderr), or print it when no path is given."""
    if not output:
        click.echo(text, nl=False)
        return
    try:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text)
    except OSError as exc:
        raise CursusError(
            f"{output}: cannot write it ({exc.strerror}); choose another path with -o"
        ) from None
    click.echo(f"wrote {output}", err=True)


@contextmanager
def ctrl_c_ends_the_run() -> Iterator[None]:
    """Around a local run: Ctrl-C prints how to go on and exits 130 (the shell's code for
    SIGINT), instead of click's bare 'Aborted!' and 1. The runner has already recorded the run
    as interrupted and cached the steps that finished, so the same command runs the rest."""
    try:
        yield
    except KeyboardInterrupt:
        click.echo(
            "interrupted: the run is recorded as interrupted and the steps that finished are "
            "cached; the same command runs the rest (`cursus runs list` shows it)",
            err=True,
        )
        sys.exit(130)
