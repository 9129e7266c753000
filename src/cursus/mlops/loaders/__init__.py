"""Model loaders that travel inside a model folder (`<loader>.py` beside model_meta.json), for
models logged from memory by `MLOpsClient.log_model`: the step library's `_tabular.LoadedModel`
finds a loader in the model folder before its own. Each is a plain file with no Cursus import, so
the same code loads the model here, in `cursus serve` and on a SageMaker endpoint."""
