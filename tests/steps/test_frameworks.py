"""The framework table: every entry is complete, and what it names exists."""

from __future__ import annotations

import pytest

from cursus.frameworks import FRAMEWORKS, MODEL_FRAMEWORK, FrameworkError, get_framework
from cursus.steps.library import BUNDLED_LIBRARY, step_library


@pytest.mark.parametrize("name", sorted(FRAMEWORKS))
def test_every_entry_names_images_sdk_classes_and_a_loader_that_exist(name: str) -> None:
    import importlib

    framework = FRAMEWORKS[name]
    assert framework.images and framework.default is framework.images[0]
    for path in (framework.processor, framework.estimator):
        module, _, cls = path.partition(":")
        assert isinstance(getattr(importlib.import_module(module), cls), type), path
    if framework.model_loader:
        assert (BUNDLED_LIBRARY / f"{framework.model_loader}.py").is_file()
        assert framework.model_loader == f"_model_{name}"  # the name _tabular.LoadedModel derives


def test_every_bundled_unit_names_a_framework_of_the_table() -> None:
    for unit in step_library():
        assert unit.spec.framework in FRAMEWORKS or unit.spec.framework == MODEL_FRAMEWORK


def test_an_unknown_framework_or_version_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(FrameworkError, match=r"node X: unknown framework 'catboost'; known: "):
        get_framework("catboost", "node X")
    with pytest.raises(FrameworkError, match=r"no image version '0.90'; known: 1.7-1"):
        FRAMEWORKS["xgboost"].image_version("0.90")
