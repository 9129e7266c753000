"""`cursus sagemaker emulate` and `cursus sagemaker twins`: run a compiled SageMaker pipeline
here, as SageMaker would, in twins of its framework images (see backends/sagemaker/emulate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cursus.errors import CursusError


def register(cli: click.Group) -> None:
    group = cli.commands["sagemaker"]
    assert isinstance(group, click.Group)
    group.add_command(emulate_command)
    group.add_command(twins)


STATUS_STYLE = {"Succeeded": "green", "Failed": "red", "NotRun": "bright_black"}


@click.command("emulate")
@click.argument("dag_ref", metavar="DAG")
@click.option("-c", "--config", "config", required=True, help="the pipeline's config JSON")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=".cursus/emulate",
    show_default=True,
    help="where the emulated S3 bucket, jobs and logs go",
)
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="a parameter value")
@click.option("--build-twins", is_flag=True, help="build missing twins first (~30 s each)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def emulate_command(
    dag_ref: str,
    config: str,
    workdir: str,
    params: tuple[str, ...],
    build_twins: bool,
    as_json: bool,
) -> None:
    """Compile DAG for SageMaker and run its definition step by step in image twins: processing
    jobs through their entry point and code bundle, training in script mode, the model served
    through the image's toolkit. Offline, no Docker; each job sees /opt/ml and no network."""
    from cursus.backends.sagemaker.emulate import StepResult, emulate
    from cursus.cli.sagemaker import _parameters
    from cursus.targets import compile_dag

    compiled = compile_dag(dag_ref, config, "sagemaker", allow_sample_data=True)
    definition = compiled.definition_dict()
    if build_twins:
        _build_for(definition)

    def show(step: StepResult) -> None:
        if as_json:
            return
        line = f"  {step.status:<9} {step.name}"
        if step.status != "NotRun":
            line += f"  {step.seconds:.1f}s  [{step.twin}]"
        click.secho(line, fg=STATUS_STYLE.get(step.status))
        if step.reason:
            click.echo("      " + step.reason.replace("\n", "\n      "), err=True)

    if not as_json:
        click.echo(f"emulating {compiled.name} ({len(definition['Steps'])} steps)")
    result = emulate(compiled, Path(workdir), _parameters(params), on_step=show)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        total = sum(s.seconds for s in result.steps)
        click.echo(f"{result.status}: execution {result.execution_id} in {total:.1f}s")
        click.echo(f"jobs, logs and records: {result.root}")
    if not result.succeeded:
        raise SystemExit(1)


def _build_for(definition: dict[str, object]) -> None:
    from cursus.backends.sagemaker.twins import build_twin, twin_for_image

    images = set()
    for step in definition["Steps"]:  # type: ignore[attr-defined]
        args = step.get("Arguments", {})
        images |= {
            args.get("AppSpecification", {}).get("ImageUri"),
            args.get("AlgorithmSpecification", {}).get("TrainingImage"),
            args.get("PrimaryContainer", {}).get("Image"),
        }
    for image in sorted(i for i in images if i):
        twin = twin_for_image(image)
        click.echo(f"twin {twin.name}: {build_twin(twin)}", err=True)


@click.group()
def twins() -> None:
    """Twins of SageMaker's framework images: venvs with each image's Python and packages."""


@twins.command("list")
@click.option("--json", "as_json", is_flag=True)
def twins_list(as_json: bool) -> None:
    """Every twin: image, Python, where its pins come from, and whether it is built."""
    from cursus.backends.sagemaker.twins import TWINS, twin_python

    rows = []
    for twin in TWINS.values():
        python = twin_python(twin)
        state = "unavailable: " + twin.unavailable if twin.unavailable else "not built"
        rows.append(
            {
                "twin": twin.name,
                "python": twin.python,
                "oldest_python": twin.oldest_python,
                "packages": list(twin.packages),
                "source": twin.source,
                "built": str(python) if python else None,
                "state": "built" if python else state,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['twin']:<16} Python {row['python']}  {row['state']}")
        click.echo(f"{'':<16} pins from {row['source']}")


@twins.command("build")
@click.argument("names", nargs=-1)
@click.option(
    "--skip-missing-python",
    is_flag=True,
    help="a twin whose Python this machine lacks is a warning, not an error",
)
def twins_build(names: tuple[str, ...], skip_missing_python: bool) -> None:
    """Build twins (all that can be built here when no NAME is given). Each needs its image's
    Python (pyenv's, or python3.9 on PATH) and installs its pins from PyPI."""
    from cursus.backends.sagemaker.twins import TWINS, NoInterpreter, build_twin, twin_python

    by_name = {t.name: t for t in TWINS.values()}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise CursusError(f"unknown twins {unknown}; the twins are {', '.join(sorted(by_name))}")
    chosen = [by_name[n] for n in names] if names else list(TWINS.values())
    for twin in chosen:
        if twin.unavailable and not names:
            click.echo(f"{twin.name}: skipped: {twin.unavailable}")
            continue
        if twin_python(twin) is None:
            click.echo(f"{twin.name}: building (its pins, then byte-compiled; ~30 s)...", err=True)
        try:
            click.echo(f"{twin.name}: {build_twin(twin)}")
        except NoInterpreter as exc:
            if not skip_missing_python:
                raise
            click.echo(f"warning: {exc}; its emulation tests will be skipped", err=True)
    if not names:  # and the wheels of what the images lack, which the bundles carry
        from cursus.backends.sagemaker.wheels import fetch_all

        for wheel in fetch_all():
            click.echo(f"wheel: {wheel}")
