"""Behaves like MODS' documented decorator: returns a subclass of the decorated class and of its
own inner class, built with its own metaclass, and remembers every decorated class."""

from __future__ import annotations

from typing import Any

_TEMPLATES: list[type] = []


class ModsMeta(type):
    """MODS' own metaclass: not ABCMeta, so combining the two conflicts."""


def extract_template_list() -> list[type]:
    return list(_TEMPLATES)


def MODSTemplate(author: str, version: str, description: str) -> Any:
    def decorate(cls: type) -> type:
        class Inner:
            @classmethod
            def extract_author(cls_) -> str:
                return author

            @classmethod
            def extract_version(cls_) -> str:
                return version

            @classmethod
            def extract_description(cls_) -> str:
                return description

            @classmethod
            def extract_module(cls_) -> str:
                return cls_.__module__

            @classmethod
            def extract_name(cls_) -> str:
                return cls_.__name__

        name = getattr(cls, "__name__", type(cls).__name__)
        decorated = ModsMeta(name, (cls, Inner), {"__module__": cls.__module__})
        _TEMPLATES.append(decorated)
        return decorated

    return decorate
