"""PipelineDAG: building, querying, cycles, and its JSON form."""

from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path

import pytest

from cursus.api.dag import PipelineDAG
from cursus.api.loading import bundled_dag_path
from cursus.errors import DAGError


def diamond() -> PipelineDAG:
    """load -> (prep_a, prep_b) -> train"""
    dag = PipelineDAG(description="a diamond")
    for node in ("load", "prep_a", "prep_b", "train"):
        dag.add_node(node)
    dag.add_edge("load", "prep_a")
    dag.add_edge("load", "prep_b")
    dag.add_edge("prep_a", "train")
    dag.add_edge("prep_b", "train")
    return dag


def test_nodes_and_edges_keep_the_order_they_were_added() -> None:
    dag = diamond()
    assert dag.nodes == ["load", "prep_a", "prep_b", "train"]
    assert dag.edges == [
        ("load", "prep_a"),
        ("load", "prep_b"),
        ("prep_a", "train"),
        ("prep_b", "train"),
    ]
    assert len(dag) == 4
    assert "train" in dag
    assert "evaluate" not in dag


def test_upstream_and_downstream_queries() -> None:
    dag = diamond()
    assert dag.get_dependencies("train") == ["prep_a", "prep_b"]
    assert dag.upstream("train") == ["prep_a", "prep_b"]
    assert dag.get_successors("load") == ["prep_a", "prep_b"]
    assert dag.downstream("load") == ["prep_a", "prep_b"]
    assert dag.get_dependencies("load") == []
    assert dag.ancestors("train") == {"load", "prep_a", "prep_b"}
    assert dag.descendants("load") == {"prep_a", "prep_b", "train"}
    assert dag.source_nodes() == ["load"]
    assert dag.sink_nodes() == ["train"]


def test_queries_return_copies() -> None:
    dag = diamond()
    dag.get_dependencies("train").append("intruder")
    dag.get_successors("load").clear()
    assert dag.get_dependencies("train") == ["prep_a", "prep_b"]
    assert dag.get_successors("load") == ["prep_a", "prep_b"]


def test_queries_on_an_unknown_node_are_errors() -> None:
    with pytest.raises(DAGError, match="unknown node 'evaluate'"):
        diamond().get_dependencies("evaluate")
    with pytest.raises(DAGError, match="unknown node 'evaluate'"):
        diamond().descendants("evaluate")


def test_topological_order_breaks_ties_by_insertion_order() -> None:
    dag = PipelineDAG(
        ["c", "b", "a", "d"],
        [("a", "d"), ("c", "d"), ("b", "a")],
    )
    # c and b are ready first (c was added first); a only after b
    assert dag.topological_sort() == ["c", "b", "a", "d"]


def test_topological_order_puts_every_node_after_its_predecessors() -> None:
    dag = PipelineDAG.from_json(bundled_dag_path("xgboost_e2e"))
    order = dag.topological_sort()
    assert sorted(order) == sorted(dag.nodes)
    position = {node: i for i, node in enumerate(order)}
    assert all(position[src] < position[dst] for src, dst in dag.edges)


def test_a_cycle_is_rejected_with_the_cycle_named_and_the_dag_unchanged() -> None:
    dag = PipelineDAG(["a", "b", "c"], [("a", "b"), ("b", "c")])
    with pytest.raises(DAGError) as info:
        dag.add_edge("c", "a")
    assert "edge c -> a would make a cycle: a -> b -> c -> a" in str(info.value)
    assert "remove one of its edges" in str(info.value)
    assert dag.edges == [("a", "b"), ("b", "c")]
    assert dag.topological_sort() == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda d: d.add_edge("a", "a"), "self-loop"),
        (lambda d: d.add_edge("a", "zzz"), "unknown node 'zzz'; add the node first"),
        (lambda d: d.add_edge("zzz", "a"), "unknown node 'zzz'"),
        (lambda d: d.add_edge("a", "b"), "is added twice"),
        (lambda d: d.add_edge(["a"], "b"), "not a node name"),
        (lambda d: d.add_node("a"), "node 'a' is added twice"),
        (lambda d: d.add_node(""), "not a non-empty string"),
        (lambda d: d.add_node("   "), "not a non-empty string"),
        (lambda d: d.add_node(3), "not a non-empty string"),
    ],
)
def test_bad_nodes_and_edges_are_errors(build, message: str) -> None:
    dag = PipelineDAG(["a", "b"], [("a", "b")])
    with pytest.raises(DAGError, match=message.replace("(", r"\(")):
        build(dag)
    assert dag.nodes == ["a", "b"]
    assert dag.edges == [("a", "b")]


def test_cycle_checks_agree_with_brute_force_reachability() -> None:
    """Random edge sequences: an edge is refused exactly when it would close a cycle, and the
    cycle named is made of real edges."""

    def reaches(succ: dict[str, list[str]], start: str, goal: str) -> bool:
        stack, seen = [start], set()
        while stack:
            cur = stack.pop()
            if cur == goal:
                return True
            if cur not in seen:
                seen.add(cur)
                stack.extend(succ.get(cur, []))
        return False

    for seed in range(150):
        rnd = random.Random(seed)
        n = rnd.randint(2, 15)
        dag = PipelineDAG([f"n{i}" for i in range(n)])
        succ: dict[str, list[str]] = {}
        for _ in range(rnd.randint(0, 40)):
            src, dst = (f"n{i}" for i in rnd.sample(range(n), 2))
            if dst in succ.get(src, []):
                continue
            closes = reaches(succ, dst, src)
            try:
                dag.add_edge(src, dst)
            except DAGError as exc:
                assert closes
                cycle = str(exc).split("cycle: ")[1].split(";")[0].split(" -> ")
                assert cycle[0] == cycle[-1] == dst
                hops = list(itertools.pairwise(cycle))
                assert all(b in succ.get(a, []) or (a, b) == (src, dst) for a, b in hops)
            else:
                assert not closes
                succ.setdefault(src, []).append(dst)
        assert len(dag.topological_sort()) == n


def test_building_long_chains_in_any_edge_order_stays_linear() -> None:
    """Adding edges back to front (or towards earlier nodes) used to walk the whole chain for
    every edge: 4,000 nodes took seconds."""
    n = 5000
    names = [f"n{i}" for i in range(n)]
    start = time.perf_counter()
    backwards = PipelineDAG(names)
    for i in reversed(range(n - 1)):
        backwards.add_edge(names[i], names[i + 1])
    towards_first = PipelineDAG(names)
    for i in range(n - 1):
        towards_first.add_edge(names[i + 1], names[i])
    assert time.perf_counter() - start < 1.0
    assert backwards.topological_sort() == names
    assert towards_first.topological_sort() == names[::-1]


# ---------------------------------------------------------------- JSON


def test_json_shape_and_round_trip(tmp_path: Path) -> None:
    dag = diamond()
    path = tmp_path / "dag.json"
    text = dag.to_json(path)
    assert path.read_text() == text
    assert json.loads(text) == {
        "dag": {
            "description": "a diamond",
            "nodes": ["load", "prep_a", "prep_b", "train"],
            "edges": [
                ["load", "prep_a"],
                ["load", "prep_b"],
                ["prep_a", "train"],
                ["prep_b", "train"],
            ],
        }
    }
    again = PipelineDAG.from_json(path)
    assert (again.nodes, again.edges, again.description) == (dag.nodes, dag.edges, "a diamond")
    assert again.to_json() == text


def test_edges_may_be_left_out_and_description_defaults_to_empty() -> None:
    dag = PipelineDAG.from_dict({"dag": {"nodes": ["XGBoostTraining"]}})
    assert dag.nodes == ["XGBoostTraining"]
    assert dag.edges == []
    assert dag.description == ""
    assert PipelineDAG.from_dict({"dag": {"nodes": ["a"], "description": None}}).description == ""


def test_a_cycle_in_a_file_is_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "loop.json"
    path.write_text(
        json.dumps(
            {"dag": {"nodes": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"], ["c", "b"]]}}
        )
    )
    with pytest.raises(DAGError) as info:
        PipelineDAG.from_json(path)
    assert str(info.value) == f"{path}: the DAG has a cycle: c -> b -> c; remove one of its edges"


def test_a_missing_file_is_a_dag_error(tmp_path: Path) -> None:
    with pytest.raises(DAGError, match="no such DAG file"):
        PipelineDAG.from_json(tmp_path / "nope.json")


def test_a_folder_is_not_a_dag_file(tmp_path: Path) -> None:
    folder = tmp_path / "dag.json"
    folder.mkdir()
    with pytest.raises(DAGError, match="cannot be read"):
        PipelineDAG.from_json(folder)


def test_bundled_dags_load() -> None:
    dag = PipelineDAG.from_json(bundled_dag_path("xgboost_e2e"))
    assert len(dag) == 10
    assert len(dag.edges) == 11
    assert dag.source_nodes() == ["DataLoading_training", "DataLoading_calibration"]
    assert dag.sink_nodes() == ["Registration"]
    assert repr(dag) == "PipelineDAG(nodes=10, edges=11)"
