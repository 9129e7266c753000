"""Draw a DAG as a text tree or as a Mermaid flowchart."""

from __future__ import annotations

import re

from cursus.api.dag import PipelineDAG


def dag_tree(dag: PipelineDAG) -> str:
    """Each source at the left, successors indented below; a node reached twice is drawn once."""
    lines: list[str] = []
    drawn: set[str] = set()

    def walk(node: str, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        again = node in drawn
        lines.append(f"{prefix}{branch}{node}{'  (see above)' if again else ''}")
        if again:
            return
        drawn.add(node)
        children = dag.get_successors(node)
        child_prefix = prefix if top else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            walk(child, child_prefix, i == len(children) - 1, False)

    for source in dag.source_nodes():
        walk(source, "", True, True)
    return "\n".join(lines)


def _mermaid_id(node: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", node)


def dag_mermaid(dag: PipelineDAG) -> str:
    lines = ["flowchart TD"]
    for node in dag.nodes:
        lines.append(f'    {_mermaid_id(node)}["{node}"]')
    for src, dst in dag.edges:
        lines.append(f"    {_mermaid_id(src)} --> {_mermaid_id(dst)}")
    return "\n".join(lines)
