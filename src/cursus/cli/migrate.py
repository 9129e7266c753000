"""`cursus migrate config`: bring a config file of the first system (TianpeiLuke/cursus) over."""

from __future__ import annotations

import json

import click

from cursus.cli.output import write_or_print
from cursus.errors import ConfigError


def register(cli: click.Group) -> None:
    cli.add_command(migrate)


@click.group()
def migrate() -> None:
    """Bring files of the first system that did this job over to Cursus."""


@migrate.command("config")
@click.argument("old", type=click.Path(dir_okay=False))
@click.option(
    "--dag", "dag_ref", help="the pipeline's DAG: its nodes (a file naming none needs it)"
)
@click.option(
    "--hyperparameters",
    type=click.Path(dir_okay=False),
    help="a local copy of the training node's hyperparameter_file",
)
@click.option(
    "--data-source",
    "data_sources",
    multiple=True,
    metavar="NODE=URI",
    help="the data a data loading node reads (a Cradle job's output); repeatable",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write here, not stdout")
def migrate_config(
    old: str,
    dag_ref: str | None,
    hyperparameters: str | None,
    data_sources: tuple[str, ...],
    output: str | None,
) -> None:
    """Map the first system's config OLD to a Cursus config: every mapping is printed, with
    what was dropped and why; what cannot be mapped is refused, each named, and nothing is
    written."""
    from cursus.core.migrate import migrate_config_file

    dag = None
    if dag_ref:
        from cursus.api.loading import load_dag

        dag = load_dag(dag_ref)
    sources = {}
    for pair in data_sources:
        node, sep, uri = pair.partition("=")
        if not sep or not node or not uri:
            raise ConfigError(f"--data-source {pair!r}: give it as NODE=URI")
        sources[node] = uri
    result = migrate_config_file(old, dag, hyperparameters, sources)
    for title, lines in (("mapped", result.mapped), ("dropped", result.dropped)):
        for line in lines:
            click.echo(f"{title}: {line}", err=True)
    if not result.ok:
        for line in result.refused:
            click.echo(f"refused: {line}", err=True)
        click.echo(
            f"error: {old}: {len(result.refused)} value(s) cannot be migrated (refused: above); "
            "nothing was written",
            err=True,
        )
        raise SystemExit(2)
    write_or_print(json.dumps(result.config, indent=2, sort_keys=True) + "\n", output)
    click.echo(
        f"migrated {len(result.config['metadata']['config_types'])} nodes: "
        f"{len(result.mapped)} mappings, {len(result.dropped)} dropped (listed above)",
        err=True,
    )
