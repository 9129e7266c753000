"""Step arguments checked against SageMaker's own API request shapes, offline.

A pipeline step runs as one SageMaker API call made with the step's Arguments: a Processing step
is a CreateProcessingJob request, a Training step CreateTrainingJob, a Model step CreateModel, a
RegisterModel step CreateModelPackage. SageMaker validates that request only when the step starts,
hours into a run, and the local AWS stand-in never does; botocore ships the same API model
(required members, types, enums, lengths, ranges, patterns), so these checks move the refusal to
compile time and to `start`.

Arguments hold pipeline expressions, so each is first given a value of the form it has at run
time: a parameter its default (or the value given at start), an execution variable a value like
SageMaker's, a step property a value of its shape in the Describe* response, a Std:Join the join.
A value only a run can know (a Std:JsonGet, a property of no simple shape) is a `RunTime` stand-in
that no rule is checked against, so the checks never refuse what SageMaker might accept.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

# ---------------------------------------------------------------- which call each step makes


@dataclass(frozen=True)
class StepOperation:
    """The API call SageMaker makes for a step type, the Describe* call its properties come from,
    and the request members the pipeline fills in itself (the SDK leaves them out)."""

    create: str
    describe: str
    filled: tuple[str, ...] = ()


STEP_OPERATIONS = {
    "Processing": StepOperation(
        "CreateProcessingJob", "DescribeProcessingJob", ("ProcessingJobName",)
    ),
    "Training": StepOperation("CreateTrainingJob", "DescribeTrainingJob", ("TrainingJobName",)),
    "Model": StepOperation("CreateModel", "DescribeModel", ("ModelName",)),
    "RegisterModel": StepOperation("CreateModelPackage", "DescribeModelPackage"),
    "Transform": StepOperation("CreateTransformJob", "DescribeTransformJob", ("TransformJobName",)),
    "Tuning": StepOperation(
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        ("HyperParameterTuningJobName",),
    ),
    "AutoML": StepOperation("CreateAutoMLJob", "DescribeAutoMLJob", ("AutoMLJobName",)),
}

# Request members a config field sets: a problem there names the field to change.
CONFIG_FIELDS = {
    "PipelineName": "pipeline_name",
    "PipelineDisplayName": "pipeline_name",
    "PipelineDescription": "pipeline_description",
    "ModelPackageDescription": "pipeline_description",
    "ModelPackageGroupName": "model_name",
    "RoleArn": "role",
    "ExecutionRoleArn": "role",
    "InstanceType": "instance_type",
    "InstanceCount": "instance_count",
    "VolumeSizeInGB": "volume_size_gb",
    "MaxRuntimeInSeconds": "max_runtime_seconds",
}

# Plausible run-time values, of the forms SageMaker gives them.
ACCOUNT = "123456789012"
EXECUTION_ID = "abcd1234efgh"  # pipeline execution ids are 12 lowercase letters and digits
TIMESTAMP = "2026-01-01T00:00:00.000Z"


@cache
def service_model() -> Any:
    """SageMaker's API model as botocore ships it: no network, ~0.3 s to parse, once."""
    from botocore.model import ServiceModel

    from cursus.backends.sagemaker.sdk import botocore_loader

    return ServiceModel(botocore_loader().load_service_model("sagemaker", "service-2"), "sagemaker")


def request_shape(operation: str) -> Any:
    return service_model().operation_model(operation).input_shape


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One rule a value breaks: `where` (a step, or a request), the member `path`, what the
    value `is`, what the API `wants`, and how to `fix` it; `reads` are the pipeline parameters
    the value was made from, `value` the value as checked."""

    where: str
    path: str
    rule: str
    observed: str
    wants: str
    fix: str
    reads: frozenset[str] = frozenset()
    value: Any = None

    def __str__(self) -> str:
        return f"{self.where}: {self.path} {self.observed}; {self.wants}: {self.fix}"


def _subject(path: str, reads: frozenset[str]) -> str:
    """What the user changes to fix a member: the parameter or config field it comes from."""
    if reads:
        return f"parameter {', '.join(sorted(reads))}"
    member = re.sub(r"\[.*?\]", "", path).rpartition(".")[2]
    field = CONFIG_FIELDS.get(member)
    return f"config field {field}" if field else "it"


def show(value: Any) -> str:
    """A value as a message quotes it: long ones cut in the middle."""
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + "..." + text[-12:]


# ---------------------------------------------------------------- Java patterns in Python

_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
_QUANTIFIER = re.compile(r"\{\d+(,\d*)?\}")
_POSIX = {  # Java's \p{Alnum} and friends are ASCII-only
    "Lower": "a-z",
    "Upper": "A-Z",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "XDigit": "0-9a-fA-F",
    "Punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "Space": " \\t\\n\\x0b\\f\\r",
    "Blank": " \\t",
    "ASCII": "\\x00-\\x7f",
}
_JAVA_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"  # Java's `.` excludes every line terminator


class _Untranslatable(Exception):
    """A Java construct Python's re has no equivalent for: the pattern is not checked."""


def _category(name: str, extra: str) -> str:
    """The class contents of \\p{name}: ASCII members, plus the value's own non-ASCII characters
    of that category (exact for the one value being matched, and no 1.1M-character table)."""
    if name in _POSIX:
        return _POSIX[name]
    if not re.fullmatch(r"[A-Z][a-z]?", name):
        raise _Untranslatable(name)
    members = [chr(i) for i in range(128)] + list(extra)
    chars = "".join(c for c in members if unicodedata.category(c).startswith(name))
    # a noncharacter the value does not hold keeps an otherwise empty class valid
    return re.escape(chars) or next(chr(c) for c in range(0xFDD0, 0xFDF0) if chr(c) not in extra)


def _translate(pattern: str, extra: str) -> str:
    """`pattern` (Java syntax, as botocore's model writes it) in Python's re syntax."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            pair = _SURROGATE_PAIR.match(pattern, i)
            if pair:  # a UTF-16 surrogate pair: one code point above U+FFFF
                high, low = (int(h, 16) for h in pair.groups())
                out.append(f"\\U{0x10000 + (high - 0xD800) * 0x400 + (low - 0xDC00):08x}")
                i = pair.end()
                continue
            kind = pattern[i + 1 : i + 2]
            if kind in ("p", "P") and pattern[i + 2 : i + 3] == "{":
                end = pattern.index("}", i)
                chars = _category(pattern[i + 3 : end], extra)
                if in_class and kind == "P":
                    raise _Untranslatable(pattern)
                out.append(chars if in_class else f"[{'^' if kind == 'P' else ''}{chars}]")
                i = end + 1
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "[" or pattern.startswith("&&", i):  # Java class union / intersection
                raise _Untranslatable(pattern)
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("[^]", i) or pattern.startswith("[]", i):
                raise _Untranslatable(pattern)
        elif char == ".":
            char = _JAVA_DOT
        elif char == "$" and _QUANTIFIER.match(pattern, i + 1):  # Java quantifies anchors
            i = _QUANTIFIER.match(pattern, i + 1).end()  # type: ignore[union-attr]
            out.append("$")
            continue
        out.append(char)
        i += 1
    return "".join(out)


@cache
def _compiled(pattern: str, extra: str) -> re.Pattern[str] | None:
    """`pattern` compiled for Python, or None when it cannot be (it is then not checked)."""
    try:
        return re.compile(_translate(pattern, extra), re.ASCII)
    except (_Untranslatable, re.error, ValueError):
        return None


def pattern_matches(pattern: str, value: str) -> bool | None:
    """Whether `value` matches `pattern` whole, as SageMaker matches it; None if it cannot tell."""
    extra = ""
    if "\\p" in pattern or "\\P" in pattern:
        extra = "".join(sorted({c for c in value if ord(c) > 127}))
    compiled = _compiled(pattern, extra)
    return None if compiled is None else compiled.fullmatch(value) is not None


# ---------------------------------------------------------------- pipeline expressions


class RunTime(str):
    """A value only a run can know (a property file's value, a property of no simple shape):
    the text is a stand-in, and no rule is checked against it."""


def _is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("Get" in value or _function(value))


def _function(value: dict[str, Any]) -> bool:
    return next(iter(value)).startswith("Std:")


def parameters_read(value: Any) -> frozenset[str]:
    """The pipeline parameters an argument value is made from."""
    if isinstance(value, dict):
        get = value.get("Get")
        if isinstance(get, str) and get.startswith("Parameters."):
            return frozenset({get.partition(".")[2]})
        return frozenset().union(*(parameters_read(v) for v in value.values()))
    if isinstance(value, list):
        return frozenset().union(*(parameters_read(v) for v in value))
    return frozenset()


_PROPERTY_TOKEN = re.compile(r"\.?(\w+)|\[(?:'([^']*)'|\"([^\"]*)\"|(\d+))\]")


@dataclass
class Resolver:
    """Gives each expression a value of its run-time form. `parameters` maps names to the values
    they have in the run being checked (defaults, or the values given at start)."""

    parameters: dict[str, Any]
    step_types: dict[str, str]
    pipeline_name: str = "pipeline"
    region: str = "us-east-1"

    def resolve(self, value: Any) -> Any:
        if not _is_expression(value):
            return value
        if "Get" in value:
            return self._get(str(value["Get"]))
        name, body = next(iter(value.items()))
        if name == "Std:Join" and isinstance(body, dict):
            return self._join(body.get("On", ""), body.get("Values", []))
        return RunTime(f"<{name}>")  # Std:JsonGet and the like: read from a file at run time

    def _join(self, on: Any, values: Any) -> Any:
        parts = [self.resolve(v) for v in values] if isinstance(values, list) else [RunTime()]
        text = str(on).join(_text(p) for p in parts)
        return RunTime(text) if any(isinstance(p, RunTime) for p in parts) else text

    def _get(self, reference: str) -> Any:
        scope, _, rest = reference.partition(".")
        if scope == "Parameters":
            return self.parameters.get(rest, RunTime(f"<{reference}>"))
        if scope == "Execution":
            return self.execution_variable(rest)
        if scope == "Steps":
            step, _, path = rest.partition(".")
            return self._property(step, path)
        return RunTime(f"<{reference}>")

    def execution_variable(self, name: str) -> Any:
        pipeline = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:pipeline/{self.pipeline_name}"
        return {
            "PipelineExecutionId": EXECUTION_ID,
            "PipelineExecutionArn": f"{pipeline.lower()}/execution/{EXECUTION_ID}",
            "PipelineName": self.pipeline_name,
            "PipelineArn": pipeline.lower(),
            "StartDateTime": TIMESTAMP,
            "CurrentDateTime": TIMESTAMP,
        }.get(name, RunTime(f"<Execution.{name}>"))

    def _property(self, step: str, path: str) -> Any:
        """A value of the property's shape in the Describe* response of the step's job."""
        operation = STEP_OPERATIONS.get(self.step_types.get(step, ""))
        if operation is None:
            return RunTime(f"<{step}.{path}>")
        shape = service_model().operation_model(operation.describe).output_shape
        member = ""
        for match in _PROPERTY_TOKEN.finditer(path):
            name = match.group(1)
            if name and shape.type_name == "structure" and name in shape.members:
                shape, member = shape.members[name], name
            elif not name and shape.type_name == "list":
                shape = shape.member
            elif not name and shape.type_name == "map":
                shape = shape.value
            else:
                return RunTime(f"<{step}.{path}>")
        return self._plausible(shape, member)

    def _plausible(self, shape: Any, member: str) -> Any:
        """A value that fits `shape`, of the form SageMaker gives `member`; a RunTime stand-in
        when none of the usual forms fits."""
        kind = shape.type_name
        if kind == "string":
            if shape.enum:
                return shape.enum[0]
            for candidate in self._candidates(member):
                if not list(_leaf(candidate, shape, "", "")):
                    return candidate
        elif kind in ("integer", "long", "float", "double"):
            low = shape.metadata.get("min", 1)
            return max(low, 1) if shape.metadata.get("max", 1) >= 1 else low
        elif kind == "boolean":
            return True
        elif kind == "timestamp":
            return TIMESTAMP
        return RunTime(f"<{member}>")

    def _candidates(self, member: str) -> Iterator[str]:
        resource = re.sub(r"(?<!^)(?=[A-Z])", "-", member.removesuffix("Arn")).lower()
        yield f"s3://sagemaker-{self.region}-{ACCOUNT}/{self.pipeline_name}/{EXECUTION_ID}"
        yield f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{resource}/{EXECUTION_ID}"
        yield f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:{resource}/{EXECUTION_ID}/1"
        yield f"pipelines-{EXECUTION_ID}-{member or 'value'}"[:63]
        yield EXECUTION_ID


def _text(value: Any) -> str:
    """A resolved value as Std:Join writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# ---------------------------------------------------------------- the rules


_TYPES = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "timestamp": (str, int, float),
    "blob": (str,),
    "list": (list,),
    "map": (dict,),
    "structure": (dict,),
}
_ARTICLES = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "true or false",
    "timestamp": "a timestamp",
    "blob": "base64 text",
    "list": "a list",
    "map": "an object of names to values",
    "structure": "an object",
}


def _problem(rule: str, path: str, observed: str, wants: str, fix: str, value: Any) -> Problem:
    return Problem("", path, rule, observed, wants, fix, value=value)


def _type_fits(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _TYPES.get(kind, (object,)))


def _leaf(value: Any, shape: Any, path: str, operation: str) -> Iterator[Problem]:
    """The rules of a scalar member: type, enum, length, range, pattern."""
    kind = shape.type_name
    if not _type_fits(value, kind):
        yield _problem(
            "type",
            path,
            f"is {show(value)}",
            f"{operation} takes {_ARTICLES.get(kind, kind)}",
            f"write {{it}} as {_ARTICLES.get(kind, kind)}",
            value,
        )
        return
    meta = shape.metadata
    if kind == "string":
        text = _text(value)
        if shape.enum and text not in shape.enum:
            choices = ", ".join(shape.enum)
            hint = difflib.get_close_matches(text, shape.enum, n=1)
            yield _problem(
                "enum",
                path,
                f"is {show(value)}",
                f"{operation} takes one of {choices}",
                f"set {{it}} to {hint[0]!r}" if hint else "set {it} to one of them",
                value,
            )
            return
        too_long_or_short = list(_length(text, meta, path, operation, "characters", value))
        yield from too_long_or_short  # a pattern often bounds the length too: one problem is enough
        pattern = meta.get("pattern")
        if pattern and not too_long_or_short and pattern_matches(pattern, text) is False:
            yield _problem(
                "pattern",
                path,
                f"is {show(value)}{_offending_character(pattern, text)}",
                f"{operation} takes only values matching {pattern}",
                "change {it} to match",
                value,
            )
    elif kind in ("integer", "long", "float", "double"):
        low, high = meta.get("min"), meta.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                f"{low} to {high}"
                if low is not None and high is not None
                else (f"at least {low}" if low is not None else f"at most {high}")
            )
            yield _problem(
                "range", path, f"is {value}", f"{operation} takes {bounds}", "change {it}", value
            )


_REPEATED_CLASS = re.compile(r"(\[(?:\\.|[^\]])*\])(?:\*|\+|\{\d+(?:,\d*)?\})")


def _offending_character(pattern: str, text: str) -> str:
    """For a pattern that is one repeated character class (descriptions, tags), which character
    it refuses: a newline in a 1,000-character description is otherwise hard to spot."""
    repeated = _REPEATED_CLASS.fullmatch(pattern)
    if repeated:
        for index, char in enumerate(text):
            if pattern_matches(repeated.group(1), char) is False:
                return f" (character {index + 1}, {char!r}, is not allowed)"
    return ""


def _length(
    sized: Any, meta: dict[str, Any], path: str, operation: str, unit: str, value: Any
) -> Iterator[Problem]:
    """min/max of a string (characters), a list (items) or a map (entries)."""
    size, low, high = len(sized), meta.get("min"), meta.get("max")
    if high is not None and size > high:
        yield _problem(
            "length",
            path,
            f"is {size} {unit} long",
            f"{operation} takes at most {high}",
            f"shorten {{it}} to {high} {unit} or fewer",
            value,
        )
    elif low is not None and size < low:
        yield _problem(
            "length",
            path,
            f"is {size} {unit} long" if size else "is empty",
            f"{operation} takes at least {low}",
            f"give {{it}} {low} {unit} or more",
            value,
        )


@dataclass
class _Walk:
    """One request checked against its shape; `problems` collects every rule broken."""

    operation: str
    resolver: Resolver
    problems: list[Problem]

    def check(
        self, value: Any, shape: Any, path: str, reads: frozenset[str], filled: tuple[str, ...]
    ) -> None:
        if _is_expression(value):
            reads = reads | parameters_read(value)
            value = self.resolver.resolve(value)
            if shape.type_name == "string" and isinstance(value, int | float):
                # a pipeline variable of another type reaches a string member as its text (an
                # Integer parameter in an environment variable): SageMaker Pipelines converts it
                value = _text(value)
        if isinstance(value, RunTime):
            return
        kind = shape.type_name
        found: list[Problem] = []
        if kind in ("structure", "list", "map") and not _type_fits(value, kind):
            found = list(_leaf(value, shape, path, self.operation))
        elif kind == "structure":
            self._structure(value, shape, path, reads, filled)
        elif kind == "list":
            found = list(_length(value, shape.metadata, path, self.operation, "items", value))
            for index, item in enumerate(value):
                self.check(item, shape.member, f"{path}[{index}]", reads, ())
        elif kind == "map":
            found = list(_length(value, shape.metadata, path, self.operation, "entries", value))
            for key, item in value.items():
                key_path = f"{path}[{key!r}]"
                found += _leaf(key, shape.key, f"{key_path} (the key)", self.operation)
                self.check(item, shape.value, key_path, reads, ())
        else:
            found = list(_leaf(value, shape, path, self.operation))
        for problem in found:
            self._add(problem, reads)

    def _structure(
        self, value: dict[str, Any], shape: Any, path: str, reads: frozenset[str], filled: Any
    ) -> None:
        prefix = f"{path}." if path else ""
        for name in shape.required_members:
            if name not in value and name not in filled:
                self._add(
                    _problem(
                        "required",
                        prefix + name,
                        "is missing",
                        f"{self.operation} requires it",
                        f"add {name}",
                        None,
                    ),
                    reads,
                )
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                hint = difflib.get_close_matches(name, list(shape.members), n=1)
                self._add(
                    _problem(
                        "member",
                        prefix + name,
                        "is set",
                        f"{shape.name} of {self.operation} has no member {name}",
                        f"rename it to {hint[0]}" if hint else "remove it",
                        item,
                    ),
                    reads,
                )
                continue
            self.check(item, member, prefix + name, reads, ())
        given = [name for name in value if name in shape.members]
        if shape.metadata.get("union") and len(given) > 1:
            self._add(
                _problem(
                    "union",
                    path or shape.name,
                    f"sets {', '.join(given)}",
                    f"{self.operation} takes exactly one of them",
                    "keep one",
                    value,
                ),
                reads,
            )

    def _add(self, problem: Problem, reads: frozenset[str]) -> None:
        subject = _subject(problem.path, reads)
        self.problems.append(
            replace(problem, reads=reads, fix=problem.fix.replace("{it}", subject))
        )


def check_request(
    operation: str,
    request: dict[str, Any],
    where: str,
    resolver: Resolver | None = None,
    filled: tuple[str, ...] = (),
) -> list[Problem]:
    """Every rule `request` (expressions resolved by `resolver`) breaks for `operation`."""
    resolver = resolver or Resolver({}, {})
    walk = _Walk(operation, resolver, [])
    walk.check(request, request_shape(operation), "", frozenset(), filled)
    return [replace(p, where=where) for p in walk.problems]


def member_problems(operation: str, member: str, value: Any) -> list[Problem]:
    """Every rule `value` breaks as the `member` of an `operation` request."""
    walk = _Walk(operation, Resolver({}, {}), [])
    walk.check(value, request_shape(operation).members[member], member, frozenset(), ())
    return walk.problems


# ---------------------------------------------------------------- definitions


def all_steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step of a definition, those inside Condition steps' branches included."""
    for step in steps:
        yield step
        arguments = step.get("Arguments")
        if step.get("Type") == "Condition" and isinstance(arguments, dict):
            for branch in ("IfSteps", "ElseSteps"):
                yield from all_steps(arguments.get(branch) or [])


def parameter_values(definition: dict[str, Any]) -> dict[str, Any]:
    """Each parameter's default; a parameter without one has a value only at start."""
    return {
        p["Name"]: p["DefaultValue"]
        for p in definition.get("Parameters", [])
        if "Name" in p and "DefaultValue" in p
    }


def check_steps(
    definition: dict[str, Any],
    pipeline_name: str = "pipeline",
    region: str = "us-east-1",
    parameters: dict[str, Any] | None = None,
) -> list[Problem]:
    """Every rule a step's Arguments break for the API call SageMaker makes for it, with the
    parameters at their defaults overridden by `parameters`. Step types SageMaker calls no API
    of ours for (Condition, Lambda, Fail, ...) are not checked."""
    steps = list(all_steps(definition.get("Steps", [])))
    resolver = Resolver(
        {**parameter_values(definition), **(parameters or {})},
        {str(s.get("Name")): str(s.get("Type")) for s in steps},
        pipeline_name,
        region,
    )
    problems = []
    for step in steps:
        operation = STEP_OPERATIONS.get(str(step.get("Type")))
        if operation is None or not isinstance(step.get("Arguments"), dict):
            continue
        problems += check_request(
            operation.create, step["Arguments"], str(step["Name"]), resolver, operation.filled
        )
    return problems


# ---------------------------------------------------------------- start


_PARAMETER_TYPES = {"Integer": int, "Float": float}


def start_values(
    definition: dict[str, Any], given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values given at start as their parameters' declared types (a start sends every value
    as text), and, by parameter, why a value is not of its type."""
    declared = {p.get("Name"): p.get("Type", "String") for p in definition.get("Parameters", [])}
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, value in given.items():
        kind, text = declared.get(name, "String"), _text(value)
        if kind == "Boolean":
            if text.lower() in ("true", "false"):
                values[name] = text.lower() == "true"
            else:
                problems[name] = f"is {text!r}, but the parameter is a Boolean: give true or false"
        elif kind in _PARAMETER_TYPES:
            try:
                values[name] = _PARAMETER_TYPES[kind](text)
            except ValueError:
                problems[name] = f"is {text!r}, but the parameter is {kind}: give a number"
        else:
            values[name] = text
    return values, problems


def start_request(
    pipeline_name: str, parameters: dict[str, Any], display_name: str | None
) -> dict[str, Any]:
    """The StartPipelineExecution request `start` sends (the token is a stand-in); values as the
    SDK's Pipeline.start sends them, str() of each."""
    request: dict[str, Any] = {"PipelineName": pipeline_name, "ClientRequestToken": "0" * 36}
    if parameters:
        request["PipelineParameters"] = [
            {"Name": k, "Value": str(v)} for k, v in sorted(parameters.items())
        ]
    if display_name is not None:
        request["PipelineExecutionDisplayName"] = display_name
    return request


def parameter_problems(
    definition: dict[str, Any],
    given: dict[str, Any],
    pipeline_name: str = "pipeline",
    region: str = "us-east-1",
) -> list[Problem]:
    """The rules step arguments break with the `given` parameter values (already typed) in
    members made from those values: what a start with them would make SageMaker refuse (the
    defaults were checked at compile time)."""
    if not given:
        return []
    with_given = check_steps(definition, pipeline_name, region, given)
    return [p for p in with_given if p.reads & set(given)]
