"""The layer order of ARCHITECTURE.md, enforced: a module imports only from its own layer or
layers below it, never from a sibling it is declared independent of, and backends read nothing
but the Plan and the foundation modules. Every import counts, inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# top first; modules in one inner list are independent of each other
LAYERS: list[list[str]] = [
    ["cursus.__main__"],
    ["cursus.cli"],
    ["cursus.dashboard"],
    ["cursus.pipeline_catalog"],
    ["cursus.mods"],
    ["cursus.core.compiler"],  # the facade users hold
    ["cursus.core.template"],
    ["cursus.targets"],  # where a Plan goes; the one run path
    ["cursus.mlops"],
    [
        "cursus.core",
        "cursus.backends.local",
        "cursus.backends.sagemaker",
        "cursus.backends.airflow",
    ],
    ["cursus.api"],
    ["cursus.steps"],
    ["cursus.plan", "cursus.frameworks", "cursus.workspace"],
    [
        "cursus.files",
        "cursus.names",
        "cursus.loopback",
        "cursus.regions",
        "cursus.redaction",
    ],  # foundation: user files and names
    ["cursus.errors"],
    ["cursus"],  # the package itself: its docstring and version
]
# what a backend may import besides its own package: the Plan is its whole contract
BACKEND_ALLOWED = (
    "cursus.plan",
    "cursus.frameworks",
    "cursus.workspace",
    "cursus.files",
    "cursus.names",  # the one check of user-given names
    "cursus.errors",
    "cursus.regions",  # facts of AWS, as frameworks holds the images: no config, no core
)
STEP_LIBRARY = "cursus.steps.library."  # the step scripts: they run in containers without Cursus


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the entry of LAYERS it falls under): the longest matching prefix wins."""
    best: tuple[int, str] | None = None
    for index, group in enumerate(LAYERS):
        for entry in group:
            if (module == entry or module.startswith(entry + ".")) and (
                best is None or len(entry) > len(best[1])
            ):
                best = (index, entry)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def imports_of(source: str, module: str) -> list[tuple[int, str]]:
    """(line, imported cursus module) for every import in `source`, at any depth."""
    found = []
    package = module if module.endswith("__init__") else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "cursus"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] != "cursus":
                continue
            if base == "cursus":  # `from cursus import targets` imports cursus.targets
                found += [(node.lineno, f"cursus.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, base))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).startswith("cursus")
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def problems_of(module: str, source: str) -> list[str]:
    problems = []
    here, here_entry = layer_of(module)
    for line, target in imports_of(source, module):
        where = f"{module}:{line} imports {target}"
        if module.startswith(STEP_LIBRARY):
            problems.append(f"{where}: step scripts import nothing from Cursus")
            continue
        there, there_entry = layer_of(target)
        if there_entry == here_entry:
            continue
        if there < here:
            problems.append(f"{where}: {there_entry} is a layer above {here_entry}")
        elif there == here:
            problems.append(f"{where}: {here_entry} and {there_entry} are independent")
        if here_entry.startswith("cursus.backends.") and not target.startswith(BACKEND_ALLOWED):
            problems.append(f"{where}: a backend reads the Plan, not {there_entry}")
    return problems


def package_modules() -> dict[str, str]:
    modules = {}
    for path in sorted((SRC / "cursus").rglob("*.py")):
        name = ".".join(path.with_suffix("").relative_to(SRC).parts)
        modules[name.removesuffix(".__init__")] = path.read_text()
    return modules


def test_every_import_follows_the_layer_order() -> None:
    problems = [p for name, source in package_modules().items() for p in problems_of(name, source)]
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source", "words"),
    [
        ("cursus.core.resolver", "from cursus.backends.sagemaker import build", "independent"),
        (
            "cursus.backends.local.runner",
            "def f():\n    from cursus.steps.spec import X",
            "reads the Plan",
        ),
        ("cursus.backends.local.runner", "from cursus.targets import TARGETS", "layer above"),
        ("cursus.core.template", "import cursus.cli.main", "layer above"),
        ("cursus.backends.airflow.dagfile", "from ..sagemaker import build", "independent"),
        ("cursus.steps.library.package", "from cursus.errors import CursusError", "import nothing"),
        ("cursus.plan", "importlib.import_module('cursus.core.planner')", "layer above"),
    ],
)
def test_a_wrong_way_import_is_caught(module: str, source: str, words: str) -> None:
    problems = problems_of(module, source)
    assert problems and words in problems[0]


def test_imports_that_follow_the_order_pass() -> None:
    assert (
        problems_of("cursus.targets", "from cursus.backends.local.runner import LocalRunner") == []
    )
    assert (
        problems_of("cursus.backends.sagemaker.build", "from cursus.frameworks import FRAMEWORKS")
        == []
    )
    assert problems_of("cursus.core.planner", "from .resolver import resolve") == []
