"""`cursus steps new`: a working step unit, with its test, in a folder of the user's.

The unit is the same three things a bundled one is (a spec, a config class, a script) plus a
pytest file that runs the script's `main` on a small table and checks the spec and the script
agree. The script is plain Python 3.8 with pandas only, so it runs in the SageMaker images as
written.
"""

from __future__ import annotations

import re
from pathlib import Path

from cursus.errors import CursusError
from cursus.frameworks import FRAMEWORKS

KINDS = ("processing", "training")
STEP_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]{1,63}$")
# what a training scaffold fits, per framework: the imports and the body of `fit`
TRAINERS = {
    "sklearn": (
        "import pickle\n\nfrom sklearn.linear_model import LogisticRegression\n",
        """    model = LogisticRegression(max_iter=int(hyperparameters.get("max_iter", 200)))
    model.fit(X, y)
    with open(model_dir / "model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    return "model.pkl", float(model.score(X, y))
""",
    ),
    "xgboost": (
        "import xgboost as xgb\n",
        """    params = {"objective": "binary:logistic", "eval_metric": "logloss", "nthread": 1}
    rounds = int(hyperparameters.get("num_round", 50))
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=rounds)
    booster.save_model(str(model_dir / "model.json"))
    accuracy = float(((booster.predict(xgb.DMatrix(X)) > 0.5) == y).mean())
    return "model.json", accuracy
""",
    ),
    "pytorch": (
        "import torch\n",
        """    torch.manual_seed(0)
    inputs = torch.tensor(X, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32)
    mean, std = inputs.mean(0), inputs.std(0) + 1e-6
    net = torch.nn.Linear(inputs.shape[1], 1)
    optimiser = torch.optim.Adam(net.parameters(), lr=float(hyperparameters.get("lr", 0.05)))
    for _ in range(int(hyperparameters.get("epochs", 100))):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            net((inputs - mean) / std).squeeze(-1), target
        )
        loss.backward()
        optimiser.step()
    torch.save({"state": net.state_dict(), "mean": mean, "std": std}, model_dir / "model.pt")
    with torch.no_grad():
        predicted = net((inputs - mean) / std).squeeze(-1) > 0
    return "model.pt", float((predicted.numpy() == (y > 0.5)).mean())
""",
    ),
}


def snake_case(step_type: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", step_type).lower()


def new_step_unit(
    step_type: str, kind: str, framework: str | None, folder: str | Path, force: bool = False
) -> list[Path]:
    """Write the unit `step_type` into `folder`; returns the files written."""
    if not STEP_TYPE.match(step_type):
        raise CursusError(
            f"step type {step_type!r}: use CamelCase letters and digits, starting with a capital "
            "(e.g. ColumnFilter); nodes are then named ColumnFilter or ColumnFilter_<job_type>"
        )
    if kind not in KINDS:
        raise CursusError(f"--kind {kind!r}: use one of {', '.join(KINDS)}")
    framework = framework or ("sklearn" if kind == "processing" else "xgboost")
    if framework not in FRAMEWORKS:
        raise CursusError(f"--framework {framework!r}: use one of {', '.join(sorted(FRAMEWORKS))}")
    if kind == "training" and framework not in TRAINERS:
        raise CursusError(
            f"--framework {framework!r}: a training scaffold exists for {', '.join(TRAINERS)}"
        )
    folder = Path(folder)
    name = snake_case(step_type)
    files = {
        f"{name}.step.yaml": _spec(step_type, name, kind, framework),
        f"{name}_config.py": _config(step_type, kind),
        f"{name}.py": _processing_script(step_type)
        if kind == "processing"
        else _training_script(step_type, framework),
        f"test_{name}.py": _test(step_type, name, kind),
    }
    existing = [n for n in files if (folder / n).exists()]
    if existing and not force:
        raise CursusError(
            f"{folder}: {', '.join(existing)} exist; pass --force to overwrite, or pick another name"
        )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in files.items():
        path = folder / file_name
        path.write_text(text)
        written.append(path)
    return written


def _spec(step_type: str, name: str, kind: str, framework: str) -> str:
    if kind == "processing":
        return f"""step_type: {step_type}
description: >
  Keeps the columns `keep_columns` names (and the label) of a table. Edit `transform` in
  {name}.py to do what this step should do.
job_kind: processing
framework: {framework}
config_class: {name}_config.py:{step_type}Config
inputs:
  - name: input_data
    kind: tabular_data
    required: true
    compatible_sources: [DataLoading]
    keywords: [data, table]
outputs:
  - name: output_data
    kind: tabular_data
    aliases: [data, table]
    description: "data.parquet"
contract:
  entry_point: {name}.py
  inputs:
    input_data: /opt/ml/processing/input/data
  outputs:
    output_data: /opt/ml/processing/output/data
  env:
    LABEL_FIELD: {{config: label_field}}
    KEEP_COLUMNS: {{config: keep_columns}}
  job_args:
    job_type: {{config: job_type}}
"""
    return f"""step_type: {step_type}
description: >
  Trains a {framework} model on the train split of TabularPreprocessing's processed data.
  Edit `fit` in {name}.py to train the model this step should train.
job_kind: training
framework: {framework}
config_class: {name}_config.py:{step_type}Config
inputs:
  - name: input_path
    kind: processed_tabular
    required: true
    compatible_sources: [TabularPreprocessing]
    keywords: [processed, training, data, train]
outputs:
  - name: model_output
    kind: model_artifacts
    aliases: [model]
    description: "the model file and model_meta.json"
contract:
  entry_point: {name}.py
  inputs:
    input_path: /opt/ml/input/data/input_path
  outputs:
    model_output: /opt/ml/model
  env:
    LABEL_FIELD: {{config: label_field}}
  job_args:
    hyperparameters: {{config: hyperparameters}}
"""


def _config(step_type: str, kind: str) -> str:
    field = (
        """    keep_columns: list[str] | None = Field(
        default=None, description="columns to keep (the label is always kept); unset, all"
    )
"""
        if kind == "processing"
        else """    hyperparameters: dict[str, float | int | str] = Field(
        default_factory=dict, description="passed to the training script as hyperparameters"
    )
"""
    )
    return f'''"""The config class of {step_type}: its own fields beside the pipeline's shared ones."""

from __future__ import annotations

from pydantic import Field

from cursus.steps.configs import BasePipelineConfig


class {step_type}Config(BasePipelineConfig):
{field}'''


_READ_TABLE = '''READERS = {".parquet": pd.read_parquet, ".csv": pd.read_csv}


def read_table(folder):
    """Every .parquet or .csv file under `folder`, as one table."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix in READERS)
    if not files:
        raise ValueError("{}: no .parquet or .csv file to read".format(folder))
    return pd.concat([READERS[p.suffix](p) for p in files], ignore_index=True)
'''


def _processing_script(step_type: str) -> str:
    return f'''"""{step_type}: keep some columns of a table (edit `transform`).

The same file runs under `cursus run` (which calls `main` with local folders) and in a SageMaker
processing job (the `__main__` block, with the container paths of the spec). Keep it to the
libraries of the step's SageMaker image and to Python 3.8 syntax.
"""

import argparse
import json
import os
from pathlib import Path

import pandas as pd

CONTAINER_INPUTS = {{"input_data": "/opt/ml/processing/input/data"}}
CONTAINER_OUTPUTS = {{"output_data": "/opt/ml/processing/output/data"}}
ENV_VARS = ["LABEL_FIELD", "KEEP_COLUMNS"]

{_READ_TABLE}

def transform(df, environ):
    """The step's work: here, keep the columns KEEP_COLUMNS names, and the label."""
    keep = json.loads(environ["KEEP_COLUMNS"]) if environ.get("KEEP_COLUMNS") else list(df.columns)
    missing = [c for c in keep if c not in df.columns]
    if missing:
        raise ValueError(
            "keep_columns names {{}}, which the table does not have; its columns: {{}}".format(
                missing, list(df.columns)
            )
        )
    label = environ.get("LABEL_FIELD")
    if label and label in df.columns and label not in keep:
        keep = keep + [label]
    return df[keep]


def main(input_paths, output_paths, environ_vars, job_args):
    """Read the input table, transform it, write it; the returned numbers are the step's metrics."""
    df = transform(read_table(input_paths["input_data"]), environ_vars)
    out = Path(output_paths["output_data"])
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "data.parquet", index=False)
    return {{"rows": len(df), "columns": len(df.columns)}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--job_type", default=None)
    args = parser.parse_args()
    environ = {{name: os.environ[name] for name in ENV_VARS if name in os.environ}}
    result = main(dict(CONTAINER_INPUTS), dict(CONTAINER_OUTPUTS), environ, vars(args))
    print(json.dumps(result))
'''


def _training_script(step_type: str, framework: str) -> str:
    imports, body = TRAINERS[framework]
    return f'''"""{step_type}: train a {framework} model on the train split (edit `fit`).

The same file runs under `cursus run` (which calls `main` with local folders) and as a SageMaker
training job in the {framework} image (the `__main__` block: channels under /opt/ml/input/data,
hyperparameters from /opt/ml/input/config). Keep it to the libraries of that image and to
Python 3.8 syntax.
"""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
{imports}
CONTAINER_INPUTS = {{"input_path": "/opt/ml/input/data/input_path"}}
CONTAINER_OUTPUTS = {{"model_output": "/opt/ml/model"}}
ENV_VARS = ["LABEL_FIELD"]
HYPERPARAMETERS = "/opt/ml/input/config/hyperparameters.json"

{_READ_TABLE}

def training_split(folder):
    """The train/ split of TabularPreprocessing's processed data (or the whole folder)."""
    train = Path(folder) / "train"
    return read_table(train if train.is_dir() else folder)


def fit(X, y, hyperparameters, model_dir):
    """Train on the numeric features X and the 0/1 label y; write the model into model_dir and
    return its file name and training accuracy."""
{body}

def main(input_paths, output_paths, environ_vars, job_args):
    label = environ_vars.get("LABEL_FIELD") or "label"
    df = training_split(input_paths["input_path"])
    if label not in df.columns:
        raise ValueError("the training data has no label column {{!r}}; set label_field".format(label))
    features = [c for c in df.columns if c != label and pd.api.types.is_numeric_dtype(df[c])]
    X = df[features].fillna(0).to_numpy(dtype=np.float32)
    y = df[label].to_numpy(dtype=np.float32)
    model_dir = Path(output_paths["model_output"])
    model_dir.mkdir(parents=True, exist_ok=True)
    model_file, accuracy = fit(X, y, job_args.get("hyperparameters") or {{}}, model_dir)
    meta = {{"framework": "{framework}", "model_file": model_file, "features": features, "label": label}}
    (model_dir / "model_meta.json").write_text(json.dumps(meta, indent=2))
    return {{"train_accuracy": accuracy, "rows": len(df)}}


def _container_hyperparameters():
    """SageMaker writes every hyperparameter as a JSON-encoded string."""
    if not os.path.isfile(HYPERPARAMETERS):
        return {{}}
    with open(HYPERPARAMETERS) as handle:
        raw = json.load(handle)
    decoded = {{}}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


if __name__ == "__main__":
    environ = {{name: os.environ[name] for name in ENV_VARS if name in os.environ}}
    result = main(
        dict(CONTAINER_INPUTS),
        dict(CONTAINER_OUTPUTS),
        environ,
        {{"hyperparameters": _container_hyperparameters()}},
    )
    print(json.dumps(result))
'''


def _test(step_type: str, name: str, kind: str) -> str:
    if kind == "processing":
        run = """    source = tmp_path / "in"
    source.mkdir()
    pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0], "label": [0, 1, 0]}).to_csv(
        source / "table.csv", index=False
    )
    out = tmp_path / "out"
    metrics = script.main(
        {"input_data": str(source)},
        {"output_data": str(out)},
        {"LABEL_FIELD": "label", "KEEP_COLUMNS": '["a"]'},
        {},
    )
    assert metrics == {"rows": 3, "columns": 2}
    assert list(pd.read_parquet(out / "data.parquet").columns) == ["a", "label"]"""
    else:
        run = """    train = tmp_path / "in" / "train"
    train.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    pd.DataFrame({"x": x, "noise": rng.normal(size=200), "label": (x > 0).astype(int)}).to_parquet(
        train / "part.parquet"
    )
    out = tmp_path / "model"
    metrics = script.main(
        {"input_path": str(tmp_path / "in")}, {"model_output": str(out)}, {"LABEL_FIELD": "label"}, {}
    )
    assert metrics["rows"] == 200 and metrics["train_accuracy"] > 0.8
    meta = json.loads((out / "model_meta.json").read_text())
    assert (out / meta["model_file"]).is_file() and meta["features"] == ["x", "noise"]"""
    return f'''"""Tests of the {step_type} step unit: run them with `pytest {Path(name).name}` (or
`pytest` in this folder)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cursus.steps.library import StepLibrary, UnitSource, build_library

HERE = Path(__file__).resolve().parent


def _script():
    spec = importlib.util.spec_from_file_location("{name}_under_test", HERE / "{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_unit_loads_with_the_bundled_library() -> None:
    from cursus.steps.library import BUNDLED_LIBRARY

    library: StepLibrary = build_library([UnitSource(BUNDLED_LIBRARY, "bundled"), UnitSource(HERE, "here")])
    unit = library.get("{step_type}")
    assert unit.script == HERE / "{name}.py"
    assert unit.config_class().model_dump()  # its defaults validate


def test_the_script_reads_and_writes_where_the_spec_says() -> None:
    contract = yaml.safe_load((HERE / "{name}.step.yaml").read_text())["contract"]
    script = _script()
    assert script.CONTAINER_INPUTS == contract["inputs"]
    assert script.CONTAINER_OUTPUTS == contract["outputs"]
    assert set(script.ENV_VARS) == set(contract["env"])


def test_main_on_a_small_table(tmp_path: Path) -> None:
    script = _script()
{run}
'''
