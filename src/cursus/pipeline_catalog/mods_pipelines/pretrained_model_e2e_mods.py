"""Pretrained model: package, payloads, register, as a MODS template: the shared DAG of `pipelines.pretrained_model_e2e`, registered with this metadata."""

from __future__ import annotations

from cursus.pipeline_catalog.pipelines import pretrained_model_e2e

PIPELINE = pretrained_model_e2e.PIPELINE.mods_variant(author="cursus-catalog", version="1.0.0")
create_dag = PIPELINE.create_dag
create_pipeline = PIPELINE.create_pipeline
