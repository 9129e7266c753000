"""Run step scripts' main() the way a SageMaker container would, in whatever Python runs this file.

The image-twin tests start this file with a twin's interpreter (an old Python with the image's
pinned packages), so it must itself stay valid Python 3.8 and import nothing from Cursus or the
test suite. argv[1] is a JSON list of jobs, run in order in this one process (starting a twin's
Python and importing pandas and scikit-learn costs seconds, so steps that share an image share
a process):
    {"scripts_dir": ..., "script": "data_loading", "inputs": {...}, "outputs": {...},
     "env": {...}, "job_args": {...}}
or {"scripts_dir": ..., "import": ["drift_check", ...]} to import scripts without running them.
Prints one JSON line after RESULT_MARKER: a list with, per job, {"metrics": ...} or
{"error": ..., "trace": ...}; jobs after a failed one are not run.
"""

import importlib
import json
import os
import sys
import traceback

RESULT_MARKER = "CURSUS_TWIN_RESULT "


def run_job(job):
    if job["scripts_dir"] not in sys.path:
        sys.path.insert(0, job["scripts_dir"])
    if "import" in job:
        return {name: importlib.import_module(name).__file__ for name in job["import"]}
    module = importlib.import_module(job["script"])
    for path in job["outputs"].values():
        os.makedirs(path, exist_ok=True)
    return module.main(job["inputs"], job["outputs"], job.get("env", {}), job.get("job_args", {}))


def main():
    results = []
    for job in json.loads(sys.argv[1]):
        try:
            results.append({"metrics": run_job(job)})
        except Exception as error:  # reported to the test, which shows the traceback
            results.append(
                {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
            )
            break
    sys.stdout.write(RESULT_MARKER + json.dumps(results, default=str) + "\n")


if __name__ == "__main__":
    main()
