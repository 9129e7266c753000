"""Cursus' own MODSTemplate, used when the real `mods` package is not installed.

It does the job for real: it checks the template contract, records the metadata on a subclass
(with the same `extract_*` surface MODS offers), remembers every decorated class in a process-wide
list, and registers the template in the template registry.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from cursus.errors import ConfigError
from cursus.mods.registry import TemplateInfo, TemplateRegistry

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_TEMPLATES: list[type] = []


def extract_template_list() -> list[type]:
    """Every class decorated in this process, oldest first."""
    return list(_TEMPLATES)


class MODSTemplateInfo:
    """Mixed into every decorated class: the metadata MODS reads back."""

    _mods_author: str
    _mods_version: str
    _mods_description: str
    _mods_source_package: str
    _mods_commit: str

    @classmethod
    def extract_author(cls) -> str:
        return cls._mods_author

    @classmethod
    def extract_version(cls) -> str:
        return cls._mods_version

    @classmethod
    def extract_description(cls) -> str:
        return cls._mods_description

    @classmethod
    def extract_module(cls) -> str:
        return cls.__module__

    @classmethod
    def extract_name(cls) -> str:
        return cls.__name__

    @classmethod
    def extract_source_package(cls) -> str:
        return cls._mods_source_package

    @classmethod
    def extract_commit(cls) -> str:
        return cls._mods_commit


def check_metadata(author: Any, version: Any, description: Any) -> None:
    for field, value in (("author", author), ("description", description)):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"MODS template metadata field '{field}' is missing; set it in the base config"
            )
    if not isinstance(version, str) or not SEMVER.match(version):
        raise ConfigError(
            f"MODS template metadata field 'version' is {version!r}, not a semantic version; use e.g. 1.0.0"
        )


def check_contract(cls: type) -> None:
    """What MODS calls: the class is built with a sagemaker_session and has generate_pipeline()."""
    if not isinstance(cls, type):
        raise ConfigError(
            f"MODSTemplate decorates a class, not {type(cls).__name__} instance; apply it to the template class"
        )
    if not callable(getattr(cls, "generate_pipeline", None)):
        raise ConfigError(
            f"template class {cls.__name__} has no generate_pipeline() method; MODS calls it"
        )
    params = inspect.signature(cls).parameters  # what building an instance takes
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "sagemaker_session" not in params and not takes_any:
        raise ConfigError(
            f"template class {cls.__name__}'s constructor does not take 'sagemaker_session'; MODS passes it"
        )


def MODSTemplate(
    author: str,
    version: str,
    description: str,
    registry: TemplateRegistry | None = None,
    source_package: str = "cursus-ml-pipelines",
    commit: str = "",
) -> Callable[[type], type]:
    check_metadata(author, version, description)

    def decorate(cls: type) -> type:
        check_contract(cls)
        namespace = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "_mods_author": author,
            "_mods_version": version,
            "_mods_description": description,
            "_mods_source_package": source_package,
            "_mods_commit": commit,
        }
        decorated = type(cls)(cls.__name__, (cls, MODSTemplateInfo), namespace)
        info = TemplateInfo(
            name=cls.__name__,
            version=version,
            author=author,
            description=description,
            module=cls.__module__,
            dag_digest=getattr(cls, "_cursus_dag_digest", ""),
            config_digest=getattr(cls, "_cursus_config_digest", ""),
            framework=getattr(cls, "_cursus_framework", ""),
            source_package=source_package,
            source_commit=commit,
        )
        (registry or TemplateRegistry()).register(info)
        _TEMPLATES.append(decorated)
        return decorated

    return decorate
