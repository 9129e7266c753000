"""Start a script-mode training job inside an image twin, through the image's own toolkit.

Run by the twin's Python with /opt/ml laid out as SageMaker lays it out (config files, channels).
It does what the framework image's training entry does for a user script: read the training
environment from /opt/ml/input/config, fetch and unpack the submitted source directory into
/opt/ml/code, pip-install its requirements.txt, and run the entry point with the hyperparameters
as command-line arguments and SM_* variables. All of that is the toolkit's own code
(sagemaker-training, or sagemaker-containers in the XGBoost images); the one difference is the
source archive, which arrives as a local file instead of from S3.

Kept to Python 3.8 syntax and the standard library: it runs in the images' Pythons.
"""

import sys


def _toolkit():
    """(training environment, entry_point module) of the toolkit this image has."""
    try:
        from sagemaker_training import entry_point, environment

        return environment.Environment(), entry_point
    except ImportError:
        from sagemaker_containers.beta import framework

        return framework.training_env(), framework.entry_point


def main(source_archive):
    env, entry_point = _toolkit()
    entry_point.run(
        source_archive,
        env.user_entry_point,
        env.to_cmd_args(),
        env.to_env_vars(),
        capture_error=False,
    )


if __name__ == "__main__":
    main(sys.argv[1])
