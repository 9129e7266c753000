"""The ml.* instance types SageMaker offers for processing, training and hosting, as data.

Family -> sizes, from the SageMaker pricing and instance-type pages. A config naming a type that is
not here is refused at compile time: SageMaker would otherwise refuse it only when the job starts,
often hours into a pipeline run. When AWS adds a type, add it here.
"""

from __future__ import annotations

_GENERAL = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
_GRAVITON = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_GEN6_INTEL = (*_GENERAL, "32xlarge")
_GEN7_INTEL = (*_GENERAL, "48xlarge")
_GPU_G = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")

INSTANCE_FAMILIES: dict[str, tuple[str, ...]] = {
    # general purpose
    "t2": ("medium", "large", "xlarge", "2xlarge"),
    "t3": ("medium", "large", "xlarge", "2xlarge"),
    "m4": ("xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"),
    "m5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "m5d": _GENERAL,
    "m6i": _GEN6_INTEL,
    "m6id": _GEN6_INTEL,
    "m7i": _GEN7_INTEL,
    "m6g": _GRAVITON,
    "m6gd": _GRAVITON,
    # compute optimised
    "c4": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "c5": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c5d": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c5n": ("xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c6i": _GEN6_INTEL,
    "c6id": _GEN6_INTEL,
    "c7i": _GEN7_INTEL,
    "c6g": _GRAVITON,
    "c6gd": _GRAVITON,
    "c6gn": _GRAVITON,
    "c7g": _GRAVITON,
    # memory optimised
    "r5": _GENERAL,
    "r5d": _GENERAL,
    "r6i": _GEN6_INTEL,
    "r6id": _GEN6_INTEL,
    "r7i": _GEN7_INTEL,
    "r6g": _GRAVITON,
    "r6gd": _GRAVITON,
    # accelerated
    "p2": ("xlarge", "8xlarge", "16xlarge"),
    "p3": ("2xlarge", "8xlarge", "16xlarge"),
    "p3dn": ("24xlarge",),
    "p4d": ("24xlarge",),
    "p4de": ("24xlarge",),
    "p5": ("48xlarge",),
    "p5e": ("48xlarge",),
    "p5en": ("48xlarge",),
    "g4dn": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "g5": _GPU_G,
    "g6": _GPU_G,
    "g6e": _GPU_G,
    "trn1": ("2xlarge", "32xlarge"),
    "trn1n": ("32xlarge",),
    "trn2": ("48xlarge",),
    "inf1": ("xlarge", "2xlarge", "6xlarge", "24xlarge"),
    "inf2": ("xlarge", "8xlarge", "24xlarge", "48xlarge"),
}

INSTANCE_TYPES: frozenset[str] = frozenset(
    f"ml.{family}.{size}" for family, sizes in INSTANCE_FAMILIES.items() for size in sizes
)
