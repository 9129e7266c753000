"""Answer requests to a packaged model inside an image twin, through the image's serving toolkit.

Run by the twin's Python: unpacks model.tar.gz into /opt/ml/model as SageMaker does for an
endpoint, imports SAGEMAKER_PROGRAM from SAGEMAKER_SUBMIT_DIRECTORY, wraps its model_fn,
input_fn, predict_fn and output_fn in the toolkit's own transformer and Flask worker (what the
XGBoost image's serving entry builds), and sends each request through the worker's /invocations
route with Flask's test client: what gunicorn would hand the same app. Writes status, content
type and body of every response as JSON.

Kept to Python 3.8 syntax and the standard library (plus the toolkit): it runs in the images'
Pythons.
"""

import importlib
import json
import os
import sys
import tarfile

MODEL_DIR = "/opt/ml/model"
HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")


def _unpack(archive):
    os.makedirs(MODEL_DIR, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(MODEL_DIR)


def _user_module():
    program = os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    code_dir = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", MODEL_DIR + "/code")
    sys.path.insert(0, code_dir)
    name = program[:-3] if program.endswith(".py") else program
    return importlib.import_module(name)


def _app(module):
    """The toolkit's Flask app around the user's handler functions."""
    from sagemaker_containers.beta.framework import transformer, worker

    handlers = {n: getattr(module, n) for n in HANDLERS if hasattr(module, n)}
    transform = transformer.Transformer(**handlers)
    transform.initialize()
    return worker.Worker(transform_fn=transform.transform, module_name=module.__name__)


def main(archive, requests_file, responses_file):
    _unpack(archive)
    app = _app(_user_module())
    client = app.test_client()
    ping = client.get("/ping")
    with open(requests_file) as f:
        requests = json.load(f)
    responses = []
    for request in requests:
        headers = {"Content-Type": request["content_type"]}
        if request.get("accept"):
            headers["Accept"] = request["accept"]
        answer = client.post("/invocations", data=request["body"].encode(), headers=headers)
        responses.append(
            {
                "status": answer.status_code,
                "content_type": answer.headers.get("Content-Type", ""),
                "body": answer.get_data(as_text=True),
            }
        )
    with open(responses_file, "w") as f:
        json.dump({"ping": ping.status_code, "responses": responses}, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
