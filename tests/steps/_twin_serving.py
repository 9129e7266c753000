"""Send requests to a packaged model through the REAL serving toolkits of an image twin.

Started with the XGBoost twin's interpreter by test_scripts_in_twins.py, so it must stay valid
Python 3.8 and import nothing from Cursus or the test suite. argv: the unpacked model.tar.gz folder
and a JSON file of requests [{"body", "content_type", "accept"}]. It answers every request twice:

- "flask": through sagemaker-containers' Transformer and Flask Worker, built from code/inference.py
  as the XGBoost 1.7-1 image's single-model server builds them (Transformer(model_fn=..., input_fn=...,
  predict_fn=..., output_fn=...), initialize(), Worker(transform_fn=transformer.transform)), and
  posted to /invocations with Flask's test client;
- "mms": through sagemaker-inference's Transformer (the PyTorch image's toolkit, and the XGBoost
  image's multi-model mode) with a stand-in for the model server's request context.

It also records what the Flask worker makes of an input_fn that RAISES, even the toolkit's own
UnsupportedFormatError ("raising"): the toolkit behaviour that shapes inference.py's error handling. Prints one JSON line after
RESULT_MARKER: {"flask": [...], "mms": [...], "raising": {...}}, each answer {"status",
"content_type", "body"}.
"""

import json
import sys

RESULT_MARKER = "CURSUS_TWIN_RESULT "


def flask_answers(model_dir, handler, requests):
    from sagemaker_containers import _env
    from sagemaker_containers.beta.framework import transformer, worker

    _env.model_dir = model_dir  # the image unpacks the model to /opt/ml/model
    transform = transformer.Transformer(
        model_fn=handler.model_fn,
        input_fn=handler.input_fn,
        predict_fn=handler.predict_fn,
        output_fn=handler.output_fn,
    )
    transform.initialize()
    client = worker.Worker(transform_fn=transform.transform, module_name="inference").test_client()
    return [_post(client, request) for request in requests]


def _post(client, request):
    headers = {"Content-Type": request["content_type"]}
    if request.get("accept"):
        headers["Accept"] = request["accept"]
    answer = client.post("/invocations", data=request["body"].encode("utf-8"), headers=headers)
    return {
        "status": answer.status_code,
        "content_type": answer.headers.get("Content-Type", ""),
        "body": answer.get_data(as_text=True),
    }


def raising_handler_answer(model_dir, handler, request):
    """What the Flask worker answers when a user's input_fn raises instead of returning."""
    from sagemaker_containers import _env
    from sagemaker_containers.beta.framework import errors, transformer, worker

    def input_fn(body, content_type):
        raise errors.UnsupportedFormatError(content_type)

    _env.model_dir = model_dir
    transform = transformer.Transformer(
        model_fn=handler.model_fn,
        input_fn=input_fn,
        predict_fn=handler.predict_fn,
        output_fn=handler.output_fn,
    )
    transform.initialize()
    client = worker.Worker(transform_fn=transform.transform, module_name="inference").test_client()
    return _post(client, request)


class _RequestProcessor:
    def __init__(self, properties):
        self._properties = properties

    def get_request_properties(self):
        return self._properties


class _Context:
    """The parts of the model server's context that sagemaker-inference's Transformer uses."""

    def __init__(self, model_dir, properties):
        self.system_properties = {"model_dir": model_dir}
        self.request_processor = [_RequestProcessor(properties)]
        self.status = 200
        self.content_type = None

    def set_response_content_type(self, index, content_type):
        self.content_type = content_type

    def set_response_status(self, code=200, phrase=""):
        self.status = code


def mms_answers(model_dir, requests):
    from sagemaker_inference.transformer import Transformer

    transform = Transformer()  # imports the module SAGEMAKER_PROGRAM names: inference.py
    answers = []
    for request in requests:
        properties = {"Content-Type": request["content_type"]}
        if request.get("accept"):
            properties["Accept"] = request["accept"]
        context = _Context(model_dir, properties)
        body = transform.transform([{"body": request["body"].encode("utf-8")}], context)[0]
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8")
        answers.append(
            {"status": context.status, "content_type": context.content_type or "", "body": body}
        )
    return answers


def main():
    model_dir, requests_file = sys.argv[1], sys.argv[2]
    with open(requests_file) as handle:
        requests = json.load(handle)
    sys.path.insert(0, model_dir + "/code")  # where the image puts the package's code
    import inference

    result = {
        "flask": flask_answers(model_dir, inference, requests),
        "mms": mms_answers(model_dir, requests),
        "raising": raising_handler_answer(model_dir, inference, requests[0]),
    }
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
