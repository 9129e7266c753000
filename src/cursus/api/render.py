"""Draw a DAG as a text tree or as a Mermaid flowchart."""

from __future__ import annotations

import re

from cursus.api.dag import PipelineDAG


def dag_tree(dag: PipelineDAG) -> str:
    """Each source at the left, successors indented below; a node reached twice is drawn once.

    Walks with an explicit stack, so a long chain does not hit Python's recursion limit.
    """
    lines: list[str] = []
    drawn: set[str] = set()
    # (node, prefix, last, top), pushed in reverse so they pop in order
    stack = [(source, "", True, True) for source in reversed(dag.source_nodes())]
    while stack:
        node, prefix, last, top = stack.pop()
        branch = "" if top else ("└── " if last else "├── ")
        again = node in drawn
        lines.append(f"{prefix}{branch}{node}{'  (see above)' if again else ''}")
        if again:
            continue
        drawn.add(node)
        children = dag.get_successors(node)
        child_prefix = prefix if top else prefix + ("    " if last else "│   ")
        for i in reversed(range(len(children))):
            stack.append((children[i], child_prefix, i == len(children) - 1, False))
    return "\n".join(lines)


def _mermaid_ids(nodes: list[str]) -> dict[str, str]:
    """Mermaid ids are [A-Za-z0-9_]; names that clean up to the same id get a numbered suffix."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for node in nodes:
        base = re.sub(r"[^A-Za-z0-9_]", "_", node)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        ids[node] = candidate
    return ids


def dag_mermaid(dag: PipelineDAG) -> str:
    ids = _mermaid_ids(dag.nodes)
    lines = ["flowchart TD"]
    for node in dag.nodes:
        label = node.replace('"', "#quot;")
        lines.append(f'    {ids[node]}["{label}"]')
    for src, dst in dag.edges:
        lines.append(f"    {ids[src]} --> {ids[dst]}")
    return "\n".join(lines)
