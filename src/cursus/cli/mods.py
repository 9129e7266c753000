"""`cursus exec-doc`: execution documents, as MODS reads them."""

from __future__ import annotations

import json

import click

from cursus.cli.output import write_or_print
from cursus.errors import ConfigError, ValidationFailed


def register(cli: click.Group) -> None:
    cli.add_command(exec_doc)


@click.group("exec-doc")
def exec_doc() -> None:
    """Execution documents: the run-time configuration of each step."""


@exec_doc.command("generate")
@click.argument("dag_ref", metavar="DAG")
@click.option("-c", "--config", "config", required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="write here instead of stdout"
)
@click.option(
    "--step-names",
    type=click.Choice(["node", "sagemaker"]),
    default="node",
    show_default=True,
    help="key steps by node name, or by the first system's SageMaker step names",
)
def generate(dag_ref: str, config: str, output: str | None, step_names: str) -> None:
    """Build the execution document of a compiled pipeline (secrets left out)."""
    from cursus.api.loading import load_dag
    from cursus.core.planner import compile_plan
    from cursus.mods.exec_doc import generate_execution_document

    plan = compile_plan(load_dag(dag_ref), config)
    document = generate_execution_document(plan, step_names)
    write_or_print(json.dumps(document, indent=2, sort_keys=True) + "\n", output)


@exec_doc.command("validate")
@click.argument("document", type=click.Path(dir_okay=False))
@click.option("--dag", "dag_ref", help="also check step names and fields against this DAG ...")
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False), help="... and config")
def validate(document: str, dag_ref: str | None, config: str | None) -> None:
    """Check a document against the JSON Schema (and a pipeline); every problem at once."""
    from cursus.files import read_json_file
    from cursus.mods.exec_doc import validate_execution_document

    doc = read_json_file(document, ConfigError, "execution document")
    plan = None
    if dag_ref and config:
        from cursus.api.loading import load_dag
        from cursus.core.planner import compile_plan

        plan = compile_plan(load_dag(dag_ref), config)
    elif dag_ref or config:
        raise ConfigError("give both --dag and --config, or neither")
    notes: list[str] = []
    problems = validate_execution_document(doc, plan, source=document, notes=notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if len(problems) == 1:
        raise ConfigError(str(problems[0]))
    if problems:  # one `error:` line, then each problem, as validate prints them
        raise ValidationFailed([ConfigError(str(p)) for p in problems])
    click.echo(f"ok: {document} is a valid execution document")
