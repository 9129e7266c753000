"""ModelWikiGenerator: a model card in Markdown and HTML from a model's metrics (and its folder).

The metrics are the metrics.json of an evaluation or ModelMetricsComputation step, whatever the
problem type: scalar metrics become a table, `per_class` a table per class, `confusion_matrix` a
matrix, and the PNG plots beside them are copied next to the Markdown and embedded in the HTML (so
the HTML is one file to publish). With the model folder wired in, the card also says what the
model was trained on and with what. Standard library only: the scikit-learn image has no jinja2.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
from pathlib import Path
from typing import Any

from _tabular import MODEL_META_FILE, PREPROCESSING_FILE, StepInputError, env_str, load_json

CONTAINER_INPUTS = {
    "metrics_output": "/opt/ml/processing/input/metrics",
    "model_input": "/opt/ml/processing/input/model",
}
CONTAINER_OUTPUTS = {"wiki_output": "/opt/ml/processing/output/wiki"}
ENV_VARS = ["MODEL_NAME", "MODEL_DESCRIPTION", "PIPELINE_NAME", "PIPELINE_VERSION", "AUTHOR"]
METRICS_FILES = ("metrics.json", "calibration_metrics.json")


def read_metrics(folder: Path) -> tuple[dict[str, Any], Path]:
    for name in METRICS_FILES:
        if (folder / name).is_file():
            return load_json(folder / name), folder / name
    raise StepInputError(
        f"{folder} holds no metrics.json; feed this step the metrics_output of an evaluation or "
        "ModelMetricsComputation step"
    )


def model_facts(model_dir: Path | None) -> dict[str, Any]:
    """What the model folder says about training: framework, versions, data, hyperparameters."""
    if model_dir is None or not (model_dir / MODEL_META_FILE).is_file():
        return {}
    meta = load_json(model_dir / MODEL_META_FILE)
    facts: dict[str, Any] = {"meta": meta}
    if (model_dir / PREPROCESSING_FILE).is_file():
        facts["preprocessing"] = load_json(model_dir / PREPROCESSING_FILE)
    for name in ("hyperparameters.json", "training_metrics.json"):
        if (model_dir / name).is_file():
            facts[name.split(".")[0]] = load_json(model_dir / name)
    return facts


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "n/a" if value is None else str(value)


def sections(metrics: dict[str, Any], facts: dict[str, Any], info: dict[str, str]) -> list[Any]:
    """The card as (title, rows) tables and (title, text) paragraphs, rendered by both writers."""
    out: list[Any] = [
        ("Model", [[k, v] for k, v in info.items() if v]),
    ]
    scalars = [
        [k, _number(v)]
        for k, v in sorted(metrics.items())
        if isinstance(v, (int, float)) or v is None
    ]
    out.append(("Performance", scalars))
    if isinstance(metrics.get("per_class"), dict):
        rows = [
            [
                name,
                _number(m.get("precision")),
                _number(m.get("recall")),
                _number(m.get("f1")),
                _number(m.get("support")),
                _number(m.get("roc_auc")),
            ]
            for name, m in metrics["per_class"].items()
        ]
        out.append(("Per class", [["class", "precision", "recall", "F1", "support", "AUC"], *rows]))
    if isinstance(metrics.get("confusion_matrix"), list):
        matrix = metrics["confusion_matrix"]
        header = ["true \\ predicted", *[str(i) for i in range(len(matrix))]]
        out.append(
            ("Confusion matrix", [header, *[[str(i), *map(str, r)] for i, r in enumerate(matrix)]])
        )
    meta = facts.get("meta", {})
    preprocessing = facts.get("preprocessing", {})
    if meta:
        features = list(meta.get("features") or preprocessing.get("features") or [])
        training = facts.get("training_metrics", {})
        data = [
            [
                "problem type",
                meta.get("problem_type") or preprocessing.get("problem_type") or "binary",
            ],
            ["label", meta.get("label_field", "")],
            [
                "features",
                f"{len(features)}: {', '.join(features[:20])}{' ...' if len(features) > 20 else ''}",
            ],
            ["classes", ", ".join(preprocessing.get("label_mapping", {}) or {}) or "n/a"],
            ["training rows", _number(training.get("n_train"))],
            ["validation rows", _number(training.get("n_val"))],
        ]
        out.append(("Data", data))
        versions = [[k, str(v)] for k, v in sorted(meta.items()) if k.endswith("_version")]
        lineage = [["framework", meta.get("framework", "")], *versions]
        hp = facts.get("hyperparameters") or {}
        lineage += [[f"hyperparameter {k}", json.dumps(v)] for k, v in sorted(hp.items())]
        out.append(("Lineage", lineage))
    return out


def markdown(title: str, parts: list[Any], plots: list[str]) -> str:
    lines = [f"# {title}", ""]
    for heading, rows in parts:
        lines += [f"## {heading}", ""]
        if heading in ("Per class", "Confusion matrix"):
            header, *body = rows
        else:
            header, body = ["", ""], rows
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in body]
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def html_page(title: str, parts: list[Any], plots: dict[str, bytes]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, rows in parts:
        body.append(f"<h2>{html.escape(heading)}</h2><table>")
        for i, row in enumerate(rows):
            tag = "th" if heading in ("Per class", "Confusion matrix") and i == 0 else "td"
            cells = "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)
            body.append(f"<tr>{cells}</tr>")
        body.append("</table>")
    if plots:
        body.append("<h2>Plots</h2>")
        for name, data in plots.items():
            encoded = base64.b64encode(data).decode()
            body.append(
                f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{encoded}">'
                f"<figcaption>{html.escape(name)}</figcaption></figure>"
            )
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:.2em .6em}img{max-width:30em}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def main(
    input_paths: dict[str, str],
    output_paths: dict[str, str],
    environ_vars: dict[str, str],
    job_args: dict[str, Any],
) -> dict[str, float]:
    metrics_dir = Path(input_paths["metrics_output"])
    metrics, _ = read_metrics(metrics_dir)
    model = input_paths.get("model_input")
    facts = model_facts(Path(model) if model else None)
    name = env_str(environ_vars, "MODEL_NAME") or env_str(environ_vars, "PIPELINE_NAME") or "model"
    info = {
        "name": name,
        "description": env_str(environ_vars, "MODEL_DESCRIPTION") or "",
        "pipeline": env_str(environ_vars, "PIPELINE_NAME") or "",
        "version": env_str(environ_vars, "PIPELINE_VERSION") or "",
        "author": env_str(environ_vars, "AUTHOR") or "",
    }
    parts = sections(metrics, facts, info)
    out = Path(output_paths["wiki_output"])
    out.mkdir(parents=True, exist_ok=True)
    plots = {p.name: p.read_bytes() for p in sorted(metrics_dir.glob("*.png"))}
    for plot in plots:
        shutil.copyfile(metrics_dir / plot, out / plot)
    title = f"Model card: {name}"
    (out / "model_card.md").write_text(markdown(title, parts, list(plots)))
    (out / "model_card.html").write_text(html_page(title, parts, plots))
    return {"n_sections": float(len(parts)), "n_plots": float(len(plots))}


if __name__ == "__main__":
    for folder in CONTAINER_OUTPUTS.values():
        os.makedirs(folder, exist_ok=True)
    result = main(
        {n: p for n, p in CONTAINER_INPUTS.items() if os.path.isdir(p)},
        dict(CONTAINER_OUTPUTS),
        {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        {},
    )
    print(json.dumps(result, indent=2))
