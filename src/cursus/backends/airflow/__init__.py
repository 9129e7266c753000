"""The Airflow backend: a Plan becomes an Airflow DAG file whose tasks run the same steps.

Each task calls `cursus step run PLAN STEP --run-id <airflow run id>`, which runs one step through
the local runner's artifact store, cache and run records; a pipeline started by Airflow and one
started by `cursus run` share results.
"""

from cursus.backends.airflow.dagfile import AirflowCompileError, render_dag_file, write_dag_file

__all__ = ["AirflowCompileError", "render_dag_file", "write_dag_file"]
