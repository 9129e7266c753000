"""PipelineDAG: the step names of a pipeline and the edges between them."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cursus.errors import DAGError
from cursus.files import read_json_file


class PipelineDAG:
    """A directed acyclic graph of node names.

    Node order is kept as added, and topological order breaks ties by that order, so the same DAG
    always gives the same order (and so the same Plan).
    """

    def __init__(
        self,
        nodes: Iterable[str] | None = None,
        edges: Iterable[tuple[str, str]] | None = None,
        description: str = "",
    ) -> None:
        self.description = description
        self._nodes: dict[str, None] = {}
        # successor and predecessor "sets" as dicts, so they keep insertion order
        self._succ: dict[str, dict[str, None]] = {}
        self._pred: dict[str, dict[str, None]] = {}
        for node in nodes or ():
            self.add_node(node)
        for src, dst in edges or ():
            self.add_edge(src, dst)

    # ------------------------------------------------------------------ building

    def add_node(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DAGError(
                f"node name {name!r} is not a non-empty string; name nodes like 'XGBoostTraining'"
            )
        if name in self._nodes:
            raise DAGError(
                f"node '{name}' is added twice; remove the duplicate, or tell the two apart with "
                f"a job type suffix such as '{name}_calibration'"
            )
        self._nodes[name] = None
        self._succ[name] = {}
        self._pred[name] = {}

    def add_edge(self, src: str, dst: str) -> None:
        self._check_edge(src, dst)
        if self._pred[src] and self._succ[dst]:  # otherwise the edge cannot close a cycle
            path = self._path(dst, src)
            if path:
                raise DAGError(
                    f"edge {src} -> {dst} would make a cycle: {' -> '.join([*path, dst])}; "
                    "remove one of its edges"
                )
        self._succ[src][dst] = None
        self._pred[dst][src] = None

    def _check_edge(self, src: str, dst: str) -> None:
        """Every check of an edge but the cycle check (bulk loads check cycles once)."""
        for end in (src, dst):
            if not isinstance(end, str):
                raise DAGError(
                    f"edge {src!r} -> {dst!r} has an end that is not a node name; write edges as "
                    '["FromNode", "ToNode"]'
                )
            if end not in self._nodes:
                raise DAGError(
                    f"edge {src} -> {dst} names unknown node '{end}'; add the node first"
                )
        if src == dst:
            raise DAGError(
                f"edge {src} -> {dst} is a self-loop; a step cannot feed itself, remove the edge"
            )
        if dst in self._succ[src]:
            raise DAGError(f"edge {src} -> {dst} is added twice; remove the duplicate")

    # ------------------------------------------------------------------ queries

    @property
    def nodes(self) -> list[str]:
        return list(self._nodes)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(src, dst) for src in self._nodes for dst in self._succ[src]]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def get_dependencies(self, node: str) -> list[str]:
        """The direct predecessors of `node`, in the order their edges were added."""
        self._require(node)
        return list(self._pred[node])

    def get_successors(self, node: str) -> list[str]:
        self._require(node)
        return list(self._succ[node])

    upstream = get_dependencies
    downstream = get_successors

    def ancestors(self, node: str) -> set[str]:
        return self._closure(node, self._pred)

    def descendants(self, node: str) -> set[str]:
        return self._closure(node, self._succ)

    def topological_sort(self) -> list[str]:
        """Kahn's algorithm with ties broken by insertion order: O((V + E) log V)."""
        rank = {name: i for i, name in enumerate(self._nodes)}
        indegree = {name: len(self._pred[name]) for name in self._nodes}
        ready = [rank[n] for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        names = list(self._nodes)
        order: list[str] = []
        while ready:
            node = names[heapq.heappop(ready)]
            order.append(node)
            for nxt in self._succ[node]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    heapq.heappush(ready, rank[nxt])
        return order

    def source_nodes(self) -> list[str]:
        return [n for n in self._nodes if not self._pred[n]]

    def sink_nodes(self) -> list[str]:
        return [n for n in self._nodes if not self._succ[n]]

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "dag": {
                "description": self.description,
                "nodes": self.nodes,
                "edges": [[s, d] for s, d in self.edges],
            }
        }

    @property
    def digest(self) -> str:
        """The DAG's digest (`cursus.plan.dag_digest`): the same DAG, the same digest."""
        from cursus.plan import dag_digest

        return dag_digest(self.to_dict()["dag"])

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> PipelineDAG:
        if not isinstance(data, dict) or not isinstance(data.get("dag"), dict):
            raise DAGError(
                f'{source}: expected {{"dag": {{"nodes": [...], "edges": [[from, to], ...]}}}} at the top level'
            )
        body = data["dag"]
        nodes = body.get("nodes")
        edges = body.get("edges", [])
        if not isinstance(nodes, list):
            raise DAGError(f'{source}: "dag.nodes" must be a list of node names')
        if not isinstance(edges, list):
            raise DAGError(f'{source}: "dag.edges" must be a list of [from, to] pairs')
        if not nodes:
            raise DAGError(f'{source}: the DAG has no nodes; list at least one step in "dag.nodes"')
        dag = cls(description=str(body.get("description") or ""))
        try:
            for node in nodes:
                dag.add_node(node)
            for i, edge in enumerate(edges):
                if not (isinstance(edge, list | tuple) and len(edge) == 2):
                    raise DAGError(f'"dag.edges[{i}]" is {edge!r}; each edge is a [from, to] pair')
                dag._check_edge(edge[0], edge[1])
                dag._succ[edge[0]][edge[1]] = None
                dag._pred[edge[1]][edge[0]] = None
            dag._check_acyclic()
        except DAGError as exc:
            raise DAGError(f"{source}: {exc}") from None
        return dag

    @classmethod
    def from_json(cls, path: str | Path) -> PipelineDAG:
        data = read_json_file(path, DAGError, "DAG file")
        return cls.from_dict(data, source=str(path))

    # ------------------------------------------------------------------ internals

    def _require(self, node: str) -> None:
        if node not in self._nodes:
            raise DAGError(f"unknown node '{node}'")

    def _closure(self, node: str, links: dict[str, dict[str, None]]) -> set[str]:
        self._require(node)
        seen: set[str] = set()
        stack = list(links[node])
        while stack:
            cur = stack.pop()
            if cur not in seen:
                seen.add(cur)
                stack.extend(links[cur])
        return seen

    def _check_acyclic(self) -> None:
        """One pass over the whole graph; names a cycle if there is one."""
        order = self.topological_sort()
        if len(order) == len(self._nodes):
            return
        left = set(self._nodes) - set(order)
        # every node left over lies on a cycle or downstream of one: walk predecessors until a repeat
        node = next(n for n in self._nodes if n in left)
        seen: list[str] = []
        while node not in seen:
            seen.append(node)
            node = next(p for p in self._pred[node] if p in left)
        cycle = seen[seen.index(node) :][::-1]
        cycle.append(cycle[0])
        raise DAGError(f"the DAG has a cycle: {' -> '.join(cycle)}; remove one of its edges")

    def _path(self, start: str, goal: str) -> list[str]:
        """A path start -> goal (both included), or [] if there is none; stops once goal is seen."""
        parent: dict[str, str | None] = {start: None}
        stack = [start]
        while stack:
            cur = stack.pop()
            for nxt in self._succ[cur]:
                if nxt in parent:
                    continue
                parent[nxt] = cur
                if nxt == goal:
                    path = [goal]
                    while (up := parent[path[-1]]) is not None:
                        path.append(up)
                    return path[::-1]
                stack.append(nxt)
        return []

    def __repr__(self) -> str:
        return f"PipelineDAG(nodes={len(self._nodes)}, edges={len(self.edges)})"
