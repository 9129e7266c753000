"""The AWS regions SageMaker runs in, from botocore's bundled endpoint data (no network).

One list for every target that names a region: the SageMaker preflight, and Airflow, whose tasks
reach S3 and SageMaker in the config's region. botocore comes with the sagemaker and ml extras;
without it the list is unknown (None) and only the region's form is checked (the config does).
"""

from __future__ import annotations

from functools import cache


@cache
def sagemaker_regions() -> frozenset[str] | None:
    try:
        from botocore.loaders import create_loader
        from botocore.regions import EndpointResolver
    except ImportError:
        return None
    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    return frozenset(
        region
        for partition in resolver.get_available_partitions()
        for region in resolver.get_available_endpoints("api.sagemaker", partition)
    )
