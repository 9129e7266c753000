"""The user-facing API for describing pipelines."""
