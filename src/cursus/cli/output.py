"""Output helpers every command module shares."""

from __future__ import annotations

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
