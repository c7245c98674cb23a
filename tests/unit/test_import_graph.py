"""The import graph of course_lib (course_lib/import_graph.py): no cycle, and the models below the recipes."""
from course_lib import import_graph


def test_the_import_graph_of_course_lib_has_no_cycle():
    graph = import_graph.import_graph()
    assert "course_lib.pretrain" in graph and "course_lib.data.corpus" in graph
    cycle = import_graph.find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_models_do_not_import_the_recipes():
    graph = import_graph.import_graph()
    for module in ("course_lib.gpt", "course_lib.bert", "course_lib.sft", "course_lib.training"):
        assert "course_lib.pretrain" not in import_graph.reachable(module, graph), module


def test_find_cycle_finds_one():
    assert import_graph.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert import_graph.find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_are_read_inside_functions_and_relative_but_not_for_type_checking(tmp_path):
    package = tmp_path / "course_lib"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__.py", "a.py", "b.py", "c.py", "d.py", "sub/__init__.py", "sub/e.py"):
        (package / name).write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from course_lib import d\n"
                                  "def f():\n    from .b import x\n    import course_lib.sub.e\n")
    (package / "sub" / "e.py").write_text("from .. import c\n")
    graph = import_graph.import_graph(tmp_path)
    assert graph["course_lib.a"] == {"course_lib.b", "course_lib.sub.e"}
    assert graph["course_lib.sub.e"] == {"course_lib.c"}
    # a module reached brings its parent packages, whose __init__ runs first
    assert import_graph.reachable("course_lib.a", graph) == {
        "course_lib", "course_lib.a", "course_lib.b", "course_lib.sub", "course_lib.sub.e", "course_lib.c"}
