"""Every step script is valid, and runs, on the oldest Python of each SageMaker image that runs it.

The scikit-learn and XGBoost images ran Python 3.8 until September 2025 and run 3.9 now; the
PyTorch 2.1 images run 3.10. Which image runs which script comes from the specs (`framework:`;
Payload runs on the model's framework image; files a contract bundles into the model, such as
inference.py, are served by the model images; _tabular.py travels with every script). Three checks:
- vermin, targeting the image's oldest Python, finds no newer syntax, module or member;
- no `X | Y` union of types is evaluated at run time (TypeError before 3.10; vermin sees these
  only with a heuristic that also flags annotations), and every module that writes `X | Y` or
  `list[...]` in annotations has `from __future__ import annotations`;
- the real old interpreter compiles every file (skipped, with the reason, where it is missing).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _twins import OLDEST_PYTHON, SCRIPTS_DIR, old_python, scripts_by_image

BUILTIN_TYPES = {
    "bool",
    "bytearray",
    "bytes",
    "complex",
    "dict",
    "float",
    "frozenset",
    "int",
    "list",
    "memoryview",
    "object",
    "set",
    "str",
    "tuple",
    "type",
}
IMAGES = scripts_by_image()


def image_files(image: str) -> list[Path]:
    return sorted(SCRIPTS_DIR / name for name in IMAGES[image])


def test_every_script_runs_on_some_image() -> None:
    covered = set().union(*IMAGES.values())
    present = {p.name for p in SCRIPTS_DIR.glob("*.py")}
    assert present - covered == set(), "scripts no spec runs: give them a spec or remove them"
    assert covered - present == set(), "specs name scripts that do not exist"


# ---------------------------------------------------------------- vermin


def vermin_command() -> str | None:
    beside = Path(sys.executable).with_name("vermin")
    return str(beside) if beside.is_file() else shutil.which("vermin")


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_vermin_finds_nothing_newer_than_the_images_oldest_python(image: str) -> None:
    vermin = vermin_command()
    if vermin is None:
        pytest.skip("vermin is not installed (it is a dev dependency: pip install -e .[dev])")
    target = OLDEST_PYTHON[image]
    done = subprocess.run(
        [vermin, f"-t={target}-", "--no-tips", "--violations", *map(str, image_files(image))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"the {image} image runs these scripts on Python {target}, which lacks:\n{done.stdout}"
    )


# ---------------------------------------------------------------- unions evaluated at run time


def annotation_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every annotation: of arguments, returns and annotated assignments (dataclass fields)."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            every = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            found += [a.annotation for a in every if a.annotation is not None]
            if node.returns is not None:
                found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return found


def _is_type_operand(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type_operand(node.left) or _is_type_operand(node.right)
    if isinstance(node, ast.Constant):
        return node.value is None
    return isinstance(node, ast.Name) and node.id in BUILTIN_TYPES


def _is_type_check(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("isinstance", "issubclass")
        and len(node.args) == 2
    )


def runtime_unions(source: str, name: str) -> list[str]:
    """`X | Y` of types outside annotations: isinstance/issubclass's second argument written as
    a union, or a union of builtin types or None anywhere else."""
    tree = ast.parse(source, name)
    skip = {id(n) for a in annotation_nodes(tree) for n in ast.walk(a)}
    problems = []
    for node in ast.walk(tree):  # parents before children, so a flagged node's parts are skipped
        if id(node) in skip:
            continue
        if _is_type_check(node) and _is_union(node.args[1]):
            flagged = node.args[1]
        elif _is_union(node) and _is_type_operand(node):
            flagged = node
        else:
            continue
        skip |= {id(n) for n in ast.walk(flagged)}
        problems.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return problems


def _is_union(node: ast.AST) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)


def _needs_future_annotations(annotation: ast.AST) -> bool:
    for node in ast.walk(annotation):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return True
        if isinstance(node, ast.Subscript) and _is_type_operand(node.value):
            return True
    return False


def has_future_annotations(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )


@pytest.mark.parametrize("path", sorted(SCRIPTS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_union_of_types_is_evaluated_at_run_time(path: Path) -> None:
    problems = runtime_unions(path.read_text(), path.name)
    assert problems == [], (
        "`X | Y` of types raises TypeError before Python 3.10; write a tuple, e.g. "
        "isinstance(v, (int, float)):\n" + "\n".join(problems)
    )
    tree = ast.parse(path.read_text(), str(path))
    if any(_needs_future_annotations(a) for a in annotation_nodes(tree)):
        assert has_future_annotations(tree), (
            f"{path.name} writes `X | Y` or `list[...]` in annotations, which Python 3.8 evaluates "
            "and rejects; add `from __future__ import annotations` at the top"
        )


def test_the_union_check_catches_what_python_39_rejects() -> None:
    """The AST check itself: what it must flag, and the annotations it must leave alone."""
    sample = (
        "from __future__ import annotations\n"
        "def f(v: int | None, w: list[str]) -> dict[str, int] | None:\n"
        "    x: float | None = None\n"
        "    a = isinstance(v, int | float)\n"
        "    b = isinstance(v, np.number | str)\n"
        "    Number = int | float | None\n"
        "    flags = READ | WRITE\n"
        "    keys = {'a'} | set(w)\n"
    )
    found = runtime_unions(sample, "sample.py")
    assert [line.split(": ", 1)[1] for line in found] == [
        "isinstance(v, int | float)",
        "isinstance(v, np.number | str)",
        "int | float | None",
    ]


# ---------------------------------------------------------------- the real old interpreters

COMPILE_ALL = (
    "import sys\n"
    "for path in sys.argv[1:]:\n"
    "    with open(path) as handle:\n"
    "        compile(handle.read(), path, 'exec')\n"
)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_images_oldest_python_compiles_its_scripts(image: str) -> None:
    version = OLDEST_PYTHON[image]
    python = old_python(version)
    if python is None:
        pytest.skip(f"no working python{version} on this machine (PATH or ~/.pyenv/versions)")
    done = subprocess.run(
        [python, "-c", COMPILE_ALL, *map(str, image_files(image))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"Python {version} cannot compile a {image} script:\n{done.stderr}"
