"""Drift monitoring: compare current data with reference data, with Evidently.

The comparison itself lives in the DriftCheck step script (`steps/scripts/drift_check.py`), which
must not import Cursus; this module loads that file, so `cursus monitor drift` and a DriftCheck
step in a pipeline decide alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from cursus.mlops.project import MLOpsError


@cache
def drift_script() -> ModuleType:
    """The DriftCheck script as a module, as the local runner imports it."""
    from cursus.steps.library import get_step_unit

    return get_step_unit("DriftCheck").import_script()


def drift_report(
    reference: str | Path,
    current: str | Path,
    output_dir: str | Path,
    threshold: float = 0.5,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """Compare `current` with `reference` (each a .csv/.parquet file or a folder holding
    data.parquet); write drift.json and drift.html to `output_dir`; return the summary, whose
    `drift_detected` is true when the share of drifted columns reaches `threshold`."""
    script = drift_script()
    try:
        summary: dict[str, Any] = script.check_drift(
            script.load_table(reference, "reference"),
            script.load_table(current, "current"),
            output_dir,
            threshold=threshold,
            columns=list(columns) if columns else None,
            exclude=list(exclude),
        )
    except ValueError as exc:  # the script's StepInputError: bad paths, columns or threshold
        raise MLOpsError(str(exc)) from None
    out = Path(output_dir)
    summary["report_json"] = str(out / script.REPORT_JSON)
    summary["report_html"] = str(out / script.REPORT_HTML)
    return summary
