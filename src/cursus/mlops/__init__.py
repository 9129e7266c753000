"""MLOps services around every run: tracking and model registry (MLflow), data versioning (DVC),
drift monitoring (Evidently) and serving, grouped per project in a workspace."""
