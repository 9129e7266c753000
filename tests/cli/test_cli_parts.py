"""The CLI imports a part's module (mlops, serving, sagemaker, ...) only when one of its commands
is used: `cursus run` stays a small import. The table that says which module adds which command
must match what the modules add."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from click.testing import CliRunner

from cursus.cli.main import PARTS, CursusGroup, cli


def _modules_in_order() -> list[str]:
    return list(dict.fromkeys(m for modules in PARTS.values() for m in modules))


def test_the_parts_table_names_exactly_the_commands_the_modules_add():
    group = CursusGroup("probe")
    for module in _modules_in_order():
        importlib.import_module(module).register(group)
    assert set(group.commands) == set(PARTS)
    for name, modules in PARTS.items():  # each command's own modules are enough to add it
        alone = CursusGroup("probe")
        for module in modules:
            importlib.import_module(module).register(alone)
        assert name in alone.commands, (name, modules)


def test_a_command_of_the_core_imports_no_part():
    code = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from cursus.cli.main import cli\n"
        "r = CliRunner().invoke(cli, ['runs', 'list', '--help'])\n"
        "print(json.dumps([r.exit_code, sorted(m for m in sys.modules if m.startswith('cursus.cli'))]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    exit_code, loaded = json.loads(done.stdout.splitlines()[-1])
    assert exit_code == 0
    parts = {m for modules in PARTS.values() for m in modules}
    assert not parts & set(loaded), loaded


def test_help_lists_every_part_and_a_part_command_runs():
    out = CliRunner().invoke(cli, ["--help"]).output
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()}
    assert set(PARTS) <= listed
    assert {"run", "compile", "validate", "runs"} <= listed
    migrate = CliRunner().invoke(cli, ["migrate", "--help"])
    assert migrate.exit_code == 0 and "Usage: cli migrate" in migrate.output
    emulate = CliRunner().invoke(cli, ["sagemaker", "emulate", "--help"])
    assert emulate.exit_code == 0, emulate.output


def test_an_unknown_command_is_still_a_usage_error():
    done = CliRunner().invoke(cli, ["no-such-command"])
    assert done.exit_code == 2
    assert "No such command 'no-such-command'" in done.output
