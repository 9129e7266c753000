"""Defaults that are right on this machine and wrong anywhere else.

A config with no data_source reads the bundled sample, one with no label_field uses the column
`label`, and a local path names a file on this machine: all fine for `cursus run`, all silently
wrong in a SageMaker job or on an Airflow worker. The compiler records each such value in the
Plan (`Plan.local_only`); `cursus.targets.build` refuses to take such a Plan to SageMaker or
Airflow, and `cursus validate --target` reports the same lines before anything is compiled.
A demo that means to read the sample off this machine says so with `allow_sample_data`.
"""

from __future__ import annotations

import re
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.core.resolver import node_specs
from cursus.errors import ConfigError
from cursus.steps.configs import BasePipelineConfig, DataLoadingConfig
from cursus.steps.spec import StepSpec

OFF_MACHINE_TARGETS = ("sagemaker", "airflow")
ALL = list(OFF_MACHINE_TARGETS)
# what the sample-data waiver covers: the bundled table and its label
SAMPLE_KINDS = ("sample_data", "unset_label")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _finding(kind: str, targets: list[str], message: str) -> dict[str, Any]:
    return {"kind": kind, "targets": targets, "message": message}


def local_only_values(dag: PipelineDAG, configs: dict[str, BasePipelineConfig]) -> list[dict]:
    """Every value of `configs` that only works on this machine, as {kind, targets, message}."""
    found: list[dict[str, Any]] = []
    specs, _ = node_specs(dag)  # a node naming no step type is reported by validate
    unset = []
    for node in dag.topological_sort():
        config = configs.get(node)
        if isinstance(config, DataLoadingConfig):
            found += _data_source(node, config)
        if config is not None and node in specs and _label_unset(specs[node], config):
            unset.append(node)
    if unset:
        shown = ", ".join(f"'{n}'" for n in unset[:3]) + (
            f" and {len(unset) - 3} more" if len(unset) > 3 else ""
        )
        found.append(
            _finding(
                "unset_label",
                ALL,
                f"label_field is not set for {shown}, so the pipeline learns the column 'label' "
                "(the bundled sample's); set label_field under \"shared\" to your data's label "
                "column",
            )
        )
    return found


def _data_source(node: str, config: DataLoadingConfig) -> list[dict[str, Any]]:
    source = str(config.data_source)
    # an unset data_source is the bundled sample (DataLoadingConfig fills it in)
    if source.startswith(("sklearn:", "synthetic:")):
        what = "a bundled scikit-learn table" if source.startswith("sklearn:") else "made-up rows"
        return [
            _finding(
                "sample_data",
                ALL,
                f"node '{node}': data_source is {source!r}, {what} (the sample when unset); set "
                "data_source to the s3:// URI of your data",
            )
        ]
    if not _SCHEME.match(source) or source.startswith("file://"):
        return [
            _finding(
                "local_path",
                ["sagemaker"],
                f"node '{node}': data_source is {source!r}, a path on this machine, which a "
                "SageMaker job cannot read; upload it (aws s3 cp) and set data_source to its "
                "s3:// URI",
            )
        ]
    return []


def region_refusals(region: str | None, target: str) -> list[ConfigError]:
    """Airflow's tasks reach S3 and SageMaker in the config's region: a well-formed region
    SageMaker does not run in is refused at compile, not at run time. (The SageMaker build names
    it itself, with a close match.) Checked only for Airflow: loading the region list costs a
    few tenths of a second, which a local compile does not pay."""
    from cursus.regions import sagemaker_regions

    if target != "airflow" or not region:
        return []
    known = sagemaker_regions()
    if known is None or region in known:
        return []
    return [
        ConfigError(
            f'region {region!r} is not a region SageMaker runs in; set region under "shared" to '
            "one it does, e.g. us-east-1 (compiling for airflow)"
        )
    ]


def _label_unset(spec: StepSpec, config: BasePipelineConfig) -> bool:
    """The node's step reads the label, and its config leaves label_field at the default."""
    if "label_field" in config.model_fields_set:
        return False
    return any(source.config == "label_field" for source in spec.contract.env.values())


def refusals(
    local_only: list[dict[str, Any]], target: str, allow_sample_data: bool = False
) -> list[ConfigError]:
    """The recorded values `target` cannot take, as errors (none for this machine's targets)."""
    return [
        ConfigError(f"{entry['message']} (compiling for {target})")
        for entry in local_only
        if target in entry.get("targets", ())
        and not (allow_sample_data and entry.get("kind") in SAMPLE_KINDS)
    ]
