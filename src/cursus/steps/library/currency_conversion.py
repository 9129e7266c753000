"""CurrencyConversion: money columns converted into one currency with a fixed rate table.

Each row's CURRENCY_FIELD says what currency its AMOUNT_FIELDS are in; each amount is multiplied
by EXCHANGE_RATES[code] (units of TARGET_CURRENCY per unit of that currency; the target itself
is 1). A row without a code is in DEFAULT_CURRENCY when one is set, and an error otherwise; a code
without a rate is an error that names it. The training job type records the conversion in
preprocessing.json's transform chain (and refits the amounts' imputation on the converted train
split); other job types convert with the `_training` node's rates, and the packaged model
converts a request's amounts the same way.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import pandas as pd
from _tabular import (
    StepInputError,
    apply_transforms,
    encoding_as_numeric,
    env_json,
    env_str,
    new_transform,
    run_transform_step,
)

STEP_TYPE = "CurrencyConversion"
CONTAINER_INPUTS = {
    "processed_data": "/opt/ml/processing/input/data",
    "preprocessing_artifacts": "/opt/ml/processing/input/preprocessing_artifacts",
}
CONTAINER_OUTPUTS = {
    "processed_data": "/opt/ml/processing/output/processed_data",
    "preprocessing_artifacts": "/opt/ml/processing/output/preprocessing_artifacts",
}
ENV_VARS = [
    "CURRENCY_FIELD",
    "AMOUNT_FIELDS",
    "TARGET_CURRENCY",
    "EXCHANGE_RATES",
    "DEFAULT_CURRENCY",
]


def conversion(environ: dict[str, str]) -> dict[str, Any]:
    field = env_str(environ, "CURRENCY_FIELD", "currency")
    amounts = env_json(environ, "AMOUNT_FIELDS", []) or []
    target = (env_str(environ, "TARGET_CURRENCY", "USD") or "USD").upper()
    rates = env_json(environ, "EXCHANGE_RATES", {}) or {}
    default = env_str(environ, "DEFAULT_CURRENCY")
    if not isinstance(amounts, list) or not amounts:
        raise StepInputError(
            'AMOUNT_FIELDS names no columns; set amount_fields, e.g. ["price", "order_total"]'
        )
    if not isinstance(rates, dict):
        raise StepInputError('EXCHANGE_RATES must be a JSON object such as {"EUR": 1.08}')
    table: dict[str, float] = {}
    for code, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise StepInputError(f"EXCHANGE_RATES[{code!r}]={rate!r} is not a positive number")
        table[str(code).upper()] = float(rate)
    table.setdefault(target, 1.0)
    return {
        "currency_field": field,
        "amount_fields": [str(a) for a in amounts],
        "target_currency": target,
        "rates": table,
        "default_currency": default.upper() if default else None,
    }


def fit(train: pd.DataFrame, artifacts: dict[str, Any], settings: dict[str, Any]):
    numeric = set(artifacts["features"]) - set(artifacts["categories"])
    wrong = [a for a in settings["amount_fields"] if a not in numeric]
    if wrong:
        raise StepInputError(
            f"AMOUNT_FIELDS {wrong} are not numeric features of the table (numeric features: "
            f"{sorted(numeric)[:20]}); name the money columns"
        )
    if settings["currency_field"] not in train.columns:
        raise StepInputError(
            f"currency column {settings['currency_field']!r} is not in the table; set "
            f"currency_field to one of {list(train.columns)[:20]}"
        )
    transform = new_transform("currency", STEP_TYPE, **settings)
    converted = apply_transforms(train, [transform])
    return transform, encoding_as_numeric(artifacts, converted, settings["amount_fields"])


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    job_type = job_args.get("job_type") or "training"
    settings = conversion(environ_vars) if job_type == "training" else {}
    return run_transform_step(
        STEP_TYPE,
        input_paths,
        output_paths,
        job_type,
        lambda train, artifacts: fit(train, artifacts, settings),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", "--job-type", dest="job_type", default="training")
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
