"""The step library: every step unit this process can use, and where each came from.

A step unit is one self-describing folder entry: `<name>.step.yaml` (the spec), the script its
contract names beside it (with the `_*.py` modules and bundle files it runs with), and the
config class the spec names in `config_class`, either `package.module:Class` or
`file.py:Class` for a file beside the spec. Units are found, in this order, in

1. the bundled library (`cursus/steps/library/`),
2. installed distributions, through the entry-point group `cursus.steps` (an entry names a
   package whose folder holds units, or a callable returning such a folder),
3. the folders of the search path: $CURSUS_STEPS_PATH (os.pathsep-separated), folders given
   with `--steps DIR` or `use_step_folders()`, and the `steps/` folder beside a DAG file.

The bundled library is found the way a user's folder is: it has no privilege a user's unit
lacks. Two units with one step type are an error naming both places.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cursus.errors import SpecError
from cursus.frameworks import FRAMEWORKS, MODEL_FRAMEWORK
from cursus.steps.configs import BasePipelineConfig
from cursus.steps.spec import SPEC_SUFFIX, StepSpec, load_specs

BUNDLED_LIBRARY = Path(__file__).parent / "library"
ENTRY_POINT_GROUP = "cursus.steps"
STEPS_PATH_ENV = "CURSUS_STEPS_PATH"


@dataclass(frozen=True)
class StepUnit:
    spec: StepSpec
    config_class: type[BasePipelineConfig]
    origin: str  # "bundled", "entry point <dist>: <name>", "path <dir>"

    @property
    def name(self) -> str:
        return self.spec.step_type

    @property
    def folder(self) -> Path:
        return Path(self.spec.folder)

    @property
    def script(self) -> Path:
        return self.spec.script_path

    def import_script(self) -> ModuleType:
        """The unit's script as a module of this process, once, as the local runner imports it:
        its folder on sys.path (after everything else) for the shared `_*.py` modules."""
        if str(self.folder) not in sys.path:
            sys.path.append(str(self.folder))
        return import_file(f"cursus_step_{self.script.stem}", self.script)


@dataclass(frozen=True)
class UnitSource:
    folder: Path
    origin: str


class StepLibrary:
    """The units of a set of folders, by step type."""

    def __init__(self, units: dict[str, StepUnit]) -> None:
        self.units = units
        self._split: dict[str, tuple[str, str | None]] = {}
        self._classes: dict[str, type[BasePipelineConfig]] | None = None
        self._fields: frozenset[str] | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.units

    def __iter__(self) -> Iterator[StepUnit]:
        return iter(self.units.values())

    def get(self, name: str) -> StepUnit:
        unit = self.units.get(name)
        if unit is None:
            raise SpecError(
                f"unknown step type '{name}'; known: {', '.join(sorted(self.units))} (a step type "
                f"of your own: put its unit in a folder on ${STEPS_PATH_ENV}, pass --steps DIR, "
                "or keep it in steps/ beside the DAG file)"
            )
        return unit

    def split_node_name(self, node: str) -> tuple[str, str | None]:
        """'TabularPreprocessing_training' -> ('TabularPreprocessing', 'training').

        The longest known step type that the name starts with wins; an unknown type is an error
        that lists the known ones.
        """
        split = self._split.get(node)
        if split is not None:
            return split
        matches = [t for t in self.units if node == t or node.startswith(t + "_")]
        if not matches:
            known = ", ".join(sorted(self.units))
            raise SpecError(
                f"node '{node}' does not name a known step type; name nodes <StepType> or "
                f"<StepType>_<job_type> with StepType one of: {known} (or add a step unit: "
                "`cursus steps new`)"
            )
        step_type = max(matches, key=len)
        split = self._split[node] = (step_type, node[len(step_type) + 1 :] or None)
        return split

    def config_classes(self) -> dict[str, type[BasePipelineConfig]]:
        """Config class name -> class, for every unit (and the base class); do not modify."""
        if self._classes is None:
            classes: dict[str, type[BasePipelineConfig]] = {
                "BasePipelineConfig": BasePipelineConfig
            }
            for unit in self.units.values():
                classes.setdefault(unit.config_class.__name__, unit.config_class)
            self._classes = classes
        return self._classes

    def config_fields(self) -> frozenset[str]:
        """Every field of every config class."""
        if self._fields is None:
            self._fields = frozenset(
                f for c in self.config_classes().values() for f in c.model_fields
            )
        return self._fields


# ------------------------------------------------------------------ the search path

_extra_folders: list[Path] = []
# by resolved folders, and by ($CURSUS_STEPS_PATH, added folders) as given
_cache: dict[tuple[object, ...], StepLibrary] = {}


def use_step_folders(*folders: str | Path) -> None:
    """Add folders of step units to this process's search path (after $CURSUS_STEPS_PATH)."""
    for folder in folders:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise SpecError(f"{folder}: no such folder of step units; pass a folder of *.step.yaml")
        if path not in _extra_folders:
            _extra_folders.append(path)


def reset_step_folders() -> None:
    """Forget the folders `use_step_folders` added (tests, and a CLI run's end)."""
    _extra_folders.clear()


def search_path() -> list[Path]:
    """$CURSUS_STEPS_PATH's folders, then the ones added with `use_step_folders`."""
    env = [
        Path(p).expanduser().resolve()
        for p in os.environ.get(STEPS_PATH_ENV, "").split(os.pathsep)
        if p
    ]
    return list(dict.fromkeys([*env, *_extra_folders]))


def step_library() -> StepLibrary:
    """The library of this process's search path, built once per distinct path (the compiler
    asks for it per node: the lookup is a dict hit)."""
    quick = (os.environ.get(STEPS_PATH_ENV, ""), tuple(_extra_folders))
    library = _cache.get(quick)
    if library is None:
        folders = tuple(search_path())
        library = _cache.get(folders)
        if library is None:
            sources = [UnitSource(BUNDLED_LIBRARY, "bundled"), *_entry_point_sources()]
            sources += [UnitSource(folder, f"path {folder}") for folder in folders]
            library = _cache[folders] = build_library(sources)
        _cache[quick] = library
    return library


def _entry_point_sources() -> list[UnitSource]:
    sources = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        origin = f"entry point {dist}: {ep.name}"
        try:
            target = ep.load()
        except Exception as exc:  # a broken plugin names itself, whatever it raised
            raise SpecError(
                f"{origin} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}; fix or "
                "uninstall that distribution"
            ) from None
        if isinstance(target, ModuleType):
            folder = Path(target.__file__ or "").parent
        else:
            folder = Path(target() if callable(target) else target)
        if not folder.is_dir():
            raise SpecError(f"{origin} ({ep.value}) names {folder}, which is not a folder")
        sources.append(UnitSource(folder.resolve(), origin))
    return sources


def build_library(sources: Iterable[UnitSource]) -> StepLibrary:
    """Load the units of each folder and check what one spec alone cannot."""
    units: dict[str, StepUnit] = {}
    seen: set[Path] = set()
    for source in sources:
        if source.folder in seen:
            continue
        seen.add(source.folder)
        if not source.folder.is_dir():
            raise SpecError(f"{source.origin}: {source.folder} is not a folder of step units")
        for name, spec in load_specs(source.folder).items():
            if name in units:
                raise SpecError(
                    f"step type '{name}' is declared twice: in {units[name].spec.source_file} "
                    f"({units[name].origin}) and in {spec.source_file} ({source.origin}); rename "
                    "one (step_type in its spec) or remove it from the search path"
                )
            units[name] = StepUnit(spec, _config_class(spec), source.origin)
    for unit in units.values():
        _check_unit(unit, units)
    return StepLibrary(units)


def _check_unit(unit: StepUnit, units: dict[str, StepUnit]) -> None:
    spec = unit.spec
    if spec.framework != MODEL_FRAMEWORK and spec.framework not in FRAMEWORKS:
        raise SpecError(
            f"{spec.source_file}: field 'framework': {spec.framework!r} is not in the framework "
            f"table; use one of {', '.join(sorted(FRAMEWORKS))} or {MODEL_FRAMEWORK!r} (a step "
            "that runs the model it reads), or add an entry to cursus.frameworks.FRAMEWORKS"
        )
    for section in ("env", "job_args"):
        for name, source in getattr(spec.contract, section).items():
            if source.config is not None and source.config not in unit.config_class.model_fields:
                raise SpecError(
                    f"{spec.source_file}: field 'contract.{section}.{name}' reads config field "
                    f"'{source.config}', which {unit.config_class.__name__} does not have; use "
                    "one of its fields"
                )
    for inp in spec.inputs:
        unknown = sorted(set(inp.compatible_sources) - set(units))
        if unknown:
            raise SpecError(
                f"{spec.source_file}: field 'inputs.{inp.name}.compatible_sources' names "
                f"unknown step types {unknown}; use names from: {', '.join(sorted(units))}"
            )


def _config_class(spec: StepSpec) -> type[BasePipelineConfig]:
    """The class `config_class` names: `package.module:Class` or `file.py:Class` beside the spec."""
    where, _, name = spec.config_class.partition(":")
    if not name or not where:
        raise SpecError(
            f"{spec.source_file}: field 'config_class': {spec.config_class!r} names no class; "
            "write module:Class (cursus.steps.configs:BasePipelineConfig) or file.py:Class for "
            "a file beside the spec"
        )
    try:
        module = _config_module(spec, where)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(
            f"{spec.source_file}: field 'config_class': importing {where} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BasePipelineConfig)):
        raise SpecError(
            f"{spec.source_file}: field 'config_class': {where} has no class {name!r} derived "
            "from cursus.steps.configs.BasePipelineConfig; define it there"
        )
    return cls


def _config_module(spec: StepSpec, where: str) -> ModuleType:
    if not where.endswith(".py"):
        return importlib.import_module(where)
    path = (Path(spec.folder) / where).resolve()
    if not path.is_file() or path.parent != Path(spec.folder).resolve():
        raise SpecError(
            f"{spec.source_file}: field 'config_class': {where} is not a file beside the spec"
        )
    # one module name per file, so a class pickles and two folders' config.py never collide
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return import_file(f"_cursus_unit_{path.stem}_{digest}", path)


def import_file(module_name: str, path: Path) -> ModuleType:
    """The Python file `path` imported as `module_name`, once per process (a file that fails to
    import leaves no half-made module behind)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


# ------------------------------------------------------------------ the active library's API


def get_step_unit(name: str) -> StepUnit:
    return step_library().get(name)


def split_node_name(node: str) -> tuple[str, str | None]:
    return step_library().split_node_name(node)


def is_unit_folder(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob(f"*{SPEC_SUFFIX}"))
