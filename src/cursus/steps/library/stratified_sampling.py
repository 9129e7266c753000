"""StratifiedSampling: fewer rows, chosen per stratum.

`balanced` takes the same number of rows from every stratum (TARGET_SAMPLE_SIZE / strata, or all of
a stratum that has fewer), which lifts a rare class; `proportional` keeps each stratum's share of
the rows. A stratum never gets fewer than MIN_SAMPLES_PER_STRATUM rows (or all it has). Sampling is
without replacement and seeded. For the training job type only train/ is sampled: val/ and test/
are copied as they are, so early stopping and metrics see the population, not the sample.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _tabular import (
    APPLIED,
    PREPROCESSING_FILE,
    StepInputError,
    env_int,
    env_str,
    read_table,
    write_table,
)

CONTAINER_INPUTS = {
    "processed_data": "/opt/ml/processing/input/data",
    "preprocessing_artifacts": "/opt/ml/processing/input/preprocessing_artifacts",
}
CONTAINER_OUTPUTS = {
    "processed_data": "/opt/ml/processing/output/processed_data",
    "preprocessing_artifacts": "/opt/ml/processing/output/preprocessing_artifacts",
}
ENV_VARS = [
    "LABEL_FIELD",
    "STRATA_FIELD",
    "SAMPLING_STRATEGY",
    "TARGET_SAMPLE_SIZE",
    "MIN_SAMPLES_PER_STRATUM",
    "RANDOM_SEED",
]
STRATEGIES = ("balanced", "proportional")
TRAINING = "training"


def allocation(sizes: pd.Series, strategy: str, target: int, minimum: int) -> dict[Any, int]:
    """Rows to take from each stratum (never more than it has)."""
    if strategy == "balanced":
        share = {k: target // len(sizes) for k in sizes.index}
    else:
        share = {k: round(float(target * n / sizes.sum())) for k, n in sizes.items()}
    return {k: int(min(n, max(share[k], minimum))) for k, n in sizes.items()}


def sample(
    df: pd.DataFrame, field: str, strategy: str, target: int, minimum: int, seed: int
) -> pd.DataFrame:
    if field not in df.columns:
        raise StepInputError(
            f"strata column {field!r} is not in the table; set STRATA_FIELD (or LABEL_FIELD) to "
            f"one of its columns: {list(df.columns)[:10]}"
        )
    if df[field].isna().any():
        raise StepInputError(f"strata column {field!r} has missing values; fill them first")
    counts = allocation(df[field].value_counts(), strategy, target, minimum)
    rng = np.random.default_rng(seed)
    parts = []
    for value, group in df.groupby(field, sort=True):
        keep = rng.choice(len(group), size=counts[value], replace=False)
        parts.append(group.iloc[np.sort(keep)])
    return pd.concat(parts).sort_index().reset_index(drop=True)


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    job_type = job_args.get("job_type") or TRAINING
    field = env_str(environ_vars, "STRATA_FIELD") or env_str(environ_vars, "LABEL_FIELD", "label")
    strategy = (env_str(environ_vars, "SAMPLING_STRATEGY", "balanced") or "").lower()
    if strategy not in STRATEGIES:
        raise StepInputError(
            f"SAMPLING_STRATEGY={strategy!r} is not a strategy; use one of {list(STRATEGIES)}"
        )
    target = env_int(environ_vars, "TARGET_SAMPLE_SIZE", 1000)
    minimum = env_int(environ_vars, "MIN_SAMPLES_PER_STRATUM", 1)
    if target < 1 or minimum < 0:
        raise StepInputError("TARGET_SAMPLE_SIZE must be >= 1 and MIN_SAMPLES_PER_STRATUM >= 0")
    seed = env_int(environ_vars, "RANDOM_SEED", 0)
    source, out = Path(input_paths["processed_data"]), Path(output_paths["processed_data"])
    splits = sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []
    sampled_split = "train" if job_type == TRAINING else job_type
    if sampled_split not in splits:
        raise StepInputError(
            f"{source} has no {sampled_split}/ split (found {splits or 'nothing'}); feed this step "
            "the processed_data of a TabularPreprocessing of the same job type"
        )
    metrics: dict[str, float] = {}
    for split in splits:
        if split == sampled_split:
            df = read_table(source / split)
            kept = sample(df, field, strategy, target, minimum, seed)
            write_table(kept, out / split, applied=df.attrs.get(APPLIED, []))
            metrics.update(n_before=float(len(df)), n_after=float(len(kept)))
            metrics["n_strata"] = float(kept[field].nunique())
        else:
            shutil.copytree(source / split, out / split, dirs_exist_ok=True)
    artifacts = input_paths.get("preprocessing_artifacts")
    if artifacts and (Path(artifacts) / PREPROCESSING_FILE).is_file():
        target_dir = Path(output_paths["preprocessing_artifacts"])
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(artifacts) / PREPROCESSING_FILE, target_dir / PREPROCESSING_FILE)
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", "--job-type", dest="job_type", default=TRAINING)
    args = parser.parse_args()
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(
        {n: p for n, p in CONTAINER_INPUTS.items() if os.path.isdir(p)},
        dict(CONTAINER_OUTPUTS),
        {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        {"job_type": args.job_type},
    )
    print(json.dumps(result, indent=2))
