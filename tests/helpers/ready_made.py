"""Answer cells that hand an exercise to a ready-made version (shared by the integrity tests and the
simulated class in tests/e2e/full_class.py)."""
from course_lib.grader import integrity


def ready_made_calls(answer_cell: str) -> list[str]:
    """Answer cells that hand the exercise to a ready-made version: every course_lib module or torch
    namespace that has one of the exercise's names (integrity.READY_MADE, or the answer's own name)."""
    import importlib
    import pkgutil

    import torch

    import course_lib

    names = integrity.READY_MADE.get(answer_cell, set()) | {answer_cell}
    modules = {m.name: importlib.import_module(m.name)
               for m in pkgutil.walk_packages(course_lib.__path__, "course_lib.")
               if m.name.split(".")[1] not in ("cli", "labserver", "grader", "grading")}
    calls = []
    for module_name, module in modules.items():
        # the public version, and the checks' private reference answers (checks.gpt._reference_merge)
        found = [n for n in dir(module) if n in names or (n.startswith("_reference") and answer_cell in n)]
        for name in sorted(found):
            if callable(getattr(module, name)):
                calls.append(f"from {module_name} import {name} as ready\n\n"
                             f"def {answer_cell}(*args, **kwargs):\n    return ready(*args, **kwargs)\n")
                alias = module_name.rsplit(".", 1)[-1]
                calls.append(f"from {module_name.rsplit('.', 1)[0]} import {alias}\n\n"
                             f"def {answer_cell}(*args, **kwargs):\n    return {alias}.{name}(*args, **kwargs)\n")
    for namespace, owner in (("torch", torch), ("torch.nn", torch.nn), ("torch.nn.functional", torch.nn.functional),
                             ("torch.nn.utils", torch.nn.utils)):
        for name in sorted(names):
            if hasattr(owner, name):
                calls.append(f"import {namespace}\n\ndef {answer_cell}(*args, **kwargs):\n"
                             f"    return {namespace}.{name}(*args, **kwargs)\n")
    return calls
