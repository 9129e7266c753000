"""Bind every input of every node to one output of one of its DAG predecessors.

Binding needs evidence: the kinds must agree AND the producer must be a declared compatible source,
or the names/aliases/keywords must agree. Kind alone never binds. Two best candidates with the same
score are an error that asks for an explicit binding; nothing is picked silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cursus.api.dag import PipelineDAG
from cursus.errors import CursusError, ResolutionError
from cursus.steps.configs import BasePipelineConfig
from cursus.steps.library import step_library
from cursus.steps.spec import InputSpec, OutputSpec, StepSpec

# weights of each kind of evidence; a candidate must have kind agreement plus at least one other
KIND_SCORE = 0.4
SOURCE_SCORE = 0.3
NAME_SCORE = 0.2
KEYWORD_SCORE = 0.1
AFFINITY_SCORE = 0.01  # breaks ties only: less than any other evidence (0.05 steps)
URI_PATTERN = re.compile(r"^([a-z][a-z0-9+.-]*://|/)")


@dataclass(frozen=True)
class Candidate:
    producer: str
    output: str
    score: float
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from_step": self.producer,
            "output": self.output,
            "score": self.score,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Binding:
    """How one input is fed: from a producer's output, from an external URI, or not at all."""

    node: str
    input: str
    producer: str | None = None
    output: str | None = None
    uri: str | None = None
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = field(default=())

    @property
    def bound(self) -> bool:
        return self.producer is not None or self.uri is not None


def score_candidate(
    inp: InputSpec, producer: str, producer_type: str, out: OutputSpec
) -> Candidate | None:
    """Score one producer output for one input; None when there is no evidence beyond kind."""
    if out.kind != inp.kind:
        return None
    reasons = [f"kind '{inp.kind}' matches"]
    score = KIND_SCORE
    if producer_type in inp.compatible_sources:
        score += SOURCE_SCORE
        reasons.append(f"{producer_type} is a declared source")
    out_names = {out.name, *out.aliases}
    if inp.name in out_names:
        score += NAME_SCORE
        reasons.append(f"name '{inp.name}' matches")
    tokens = {t for n in out_names for t in n.split("_")}
    shared = sorted(set(inp.keywords) & (tokens | out_names))
    if shared:
        score += KEYWORD_SCORE * min(1.0, len(shared) / 2)
        reasons.append(f"keywords {shared}")
    if len(reasons) == 1:
        return None
    return Candidate(producer, out.name, round(score, 4), tuple(reasons))


def _job_type(node: str) -> str | None:
    try:
        return step_library().split_node_name(node)[1]
    except CursusError:
        return None


def _with_affinity(inp: InputSpec, node: str, candidate: Candidate) -> Candidate:
    """A fitted-transform step's `_evaluation` node has two producers of each kind: its own job
    type's data and the `_training` node's fit. The input's affinity says which one it wants."""
    if not inp.job_type_affinity:
        return candidate
    wanted = _job_type(node) if inp.job_type_affinity == "same" else "training"
    producer_job = _job_type(candidate.producer)
    if wanted is None or producer_job != wanted:
        return candidate
    return Candidate(
        candidate.producer,
        candidate.output,
        round(candidate.score + AFFINITY_SCORE, 4),
        (*candidate.reasons, f"job type '{wanted}' preferred"),
    )


def resolve_node(
    node: str,
    spec: StepSpec,
    config: BasePipelineConfig,
    dag: PipelineDAG,
    specs: dict[str, StepSpec],
) -> tuple[list[Binding], list[CursusError]]:
    bindings: list[Binding] = []
    problems: list[CursusError] = []
    explicit = dict(config.input_bindings)
    for name in explicit:
        if name not in {i.name for i in spec.inputs}:
            names = ", ".join(i.name for i in spec.inputs) or "none"
            problems.append(
                ResolutionError(
                    f"node '{node}': input_bindings names unknown input '{name}'; use one of its "
                    f"inputs: {names}"
                )
            )
    for inp in spec.inputs:
        if inp.name in explicit:
            try:
                bindings.append(_explicit(node, inp, explicit[inp.name], dag, specs))
            except ResolutionError as exc:
                problems.append(exc)
            continue
        candidates = [
            _with_affinity(inp, node, c)
            for producer in dag.get_dependencies(node)
            for out in specs[producer].outputs
            if (c := score_candidate(inp, producer, specs[producer].step_type, out)) is not None
        ]
        candidates.sort(key=lambda c: (-c.score, c.producer, c.output))
        if not candidates:
            if inp.required:
                problems.append(_unbindable(node, inp, dag, specs))
            bindings.append(Binding(node, inp.name))
            continue
        best = candidates[0]
        if len(candidates) > 1 and candidates[1].score == best.score:
            tied = ", ".join(
                f"{c.producer}.{c.output}" for c in candidates if c.score == best.score
            )
            problems.append(
                ResolutionError(
                    f"node '{node}', input '{inp.name}': {tied} fit equally well (score {best.score}); "
                    f'choose one in the config: "input_bindings": {{"{inp.name}": "{candidates[0].producer}.{candidates[0].output}"}}'
                )
            )
            continue
        bindings.append(
            Binding(
                node,
                inp.name,
                best.producer,
                best.output,
                None,
                best.score,
                best.reasons,
                tuple(candidates),
            )
        )
    problems += _unbound_alternatives(node, spec, bindings, dag, specs)
    return bindings, problems


def _unbound_alternatives(
    node: str,
    spec: StepSpec,
    bindings: list[Binding],
    dag: PipelineDAG,
    specs: dict[str, StepSpec],
) -> list[CursusError]:
    """A one_of group none of whose inputs is bound (nor failed to bind, reported already)."""
    bound = {b.input for b in bindings if b.bound}
    attempted = {b.input for b in bindings}
    groups: dict[str, list[InputSpec]] = {}
    for inp in spec.inputs:
        if inp.one_of:
            groups.setdefault(inp.one_of, []).append(inp)
    problems: list[CursusError] = []
    for _, inputs in sorted(groups.items()):
        names = [i.name for i in inputs]
        if bound & set(names) or not set(names) <= attempted:
            continue
        wanted = "; ".join(
            f"'{i.name}' ({i.kind}, e.g. from {', '.join(i.compatible_sources) or 'any step'})"
            for i in inputs
        )
        preds = ", ".join(dag.get_dependencies(node)) or "none"
        problems.append(
            ResolutionError(
                f"node '{node}' needs one of its inputs {wanted} bound, but none is (its "
                f"predecessors: {preds}); add an edge from a step that produces one, or bind "
                f"one in the config's input_bindings"
            )
        )
    return problems


def _explicit(
    node: str, inp: InputSpec, target: str, dag: PipelineDAG, specs: dict[str, StepSpec]
) -> Binding:
    if URI_PATTERN.match(target):
        return Binding(
            node, inp.name, uri=target, score=1.0, reasons=("explicit URI in input_bindings",)
        )
    producer, _, output = target.partition(".")
    preds = dag.get_dependencies(node)
    if producer not in preds:
        raise ResolutionError(
            f"node '{node}': input_bindings['{inp.name}'] = '{target}' but '{producer}' is not a direct "
            f"predecessor (predecessors: {', '.join(preds) or 'none'}); add the edge or fix the name"
        )
    outputs = {o.name: o for o in specs[producer].outputs}
    if output not in outputs:
        raise ResolutionError(
            f"node '{node}': input_bindings['{inp.name}'] = '{target}' but {producer} has no output "
            f"'{output}'; write '{producer}.<output>' with one of: {', '.join(outputs)}"
        )
    if outputs[output].kind != inp.kind:
        fits = [f"{p}.{o.name}" for p in preds for o in specs[p].outputs if o.kind == inp.kind]
        raise ResolutionError(
            f"node '{node}': input_bindings['{inp.name}'] = '{target}' joins kind '{outputs[output].kind}' "
            f"to an input of kind '{inp.kind}'; bind an output of kind '{inp.kind}' "
            f"({', '.join(fits) or 'none among the predecessors'}) or an s3:// URI"
        )
    return Binding(node, inp.name, producer, output, None, 1.0, ("explicit in input_bindings",))


def _unbindable(
    node: str, inp: InputSpec, dag: PipelineDAG, specs: dict[str, StepSpec]
) -> ResolutionError:
    offered = [
        f"{p}.{o.name} (kind '{o.kind}')"
        for p in dag.get_dependencies(node)
        for o in specs[p].outputs
    ]
    sources = ", ".join(inp.compatible_sources) or "any step"
    return ResolutionError(
        f"node '{node}': required input '{inp.name}' (kind '{inp.kind}', from {sources}) has no matching "
        f"output among its predecessors [{'; '.join(offered) or 'none'}]; add an edge from a producing "
        f'step or bind it in the config: "input_bindings": {{"{inp.name}": "s3://..."}}'
    )


def node_specs(dag: PipelineDAG) -> tuple[dict[str, StepSpec], list[CursusError]]:
    specs: dict[str, StepSpec] = {}
    problems: list[CursusError] = []
    library = step_library()
    for node in dag.nodes:
        try:
            step_type, _ = library.split_node_name(node)
            specs[node] = library.get(step_type).spec
        except CursusError as exc:
            problems.append(exc)
    return specs, problems


def resolve(
    dag: PipelineDAG, configs: dict[str, BasePipelineConfig]
) -> tuple[dict[str, list[Binding]], list[CursusError], list[str]]:
    """Bindings per node, the problems found, and warnings (edges that carry no data)."""
    specs, problems = node_specs(dag)
    if problems:
        return {}, problems, []
    result: dict[str, list[Binding]] = {}
    for node in dag.topological_sort():
        if node not in configs:  # reported by the config checks; its inputs cannot be resolved
            continue
        bindings, node_problems = resolve_node(node, specs[node], configs[node], dag, specs)
        result[node] = bindings
        problems += node_problems
    used = {(b.producer, b.node) for bs in result.values() for b in bs if b.producer}
    warnings = [
        f"edge {src} -> {dst} carries no data: no input of {dst} binds to an output of {src}"
        for src, dst in dag.edges
        if (src, dst) not in used and not problems and dst in configs
    ]
    return result, problems, warnings
