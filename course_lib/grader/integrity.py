"""The integrity report: what an answer cell does besides answering.

Under the grader the tests run outside the learner's kernel (course_lib/grader/verdict.py),
so replacing `torch.allclose` or hooking IPython there changes no verdict. What
code in the kernel can still do is produce the right outputs without being the
learner's work: call the library's own version of the exercise (the course
invites it when stuck; in a graded class it is not the learner's work), or
reach for machinery (frames, `gc`, `ctypes`, `torch._C`) that could hide such a
call from the kernel's trace (course_lib/grader/answer_server.py). This report is the
second opinion beside that trace.

This module reads the answer cells, outside any kernel and without running
them, as the kernel will compile them (IPython's own transformation of magics
first: course_lib/grader/integrity_rules.py), and flags such code per exercise with
its line; also every other code cell the learner added or changed (the grader
restores only the locked test cells), against every exercise graded after it.
It fails closed: a cell it cannot read is flagged, saying why.

It follows names, not spellings: `fn = F`, `import os as o`, `fetch = getattr`
are read as what they stand for. Honest code is left alone: the learner's own
objects (setattr on self, vars(config)), a file in the notebook's folder,
list.remove, os.path, print and warnings. It is a report, not a proof: code
built from strings at run time is flagged for the tools it needs to run
(exec, getattr with a computed name, importlib), not understood.

`course check` prints the flags as INTEGRITY lines; `course grade` writes
them next to each student's scores and awards no points to a flagged
exercise unless the instructor allows it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from .cells import grade_meta, is_solution_cell, is_test_cell, solution_sources
from .integrity_rules import (
    BUILTIN_NAMES,
    CALL_CHECKED_BUILTINS,
    FILE_METHODS,
    FOOLING_METHODS,
    GRADER_WORDS,
    IPYTHON_HOOKS,
    PROTECTED_SUFFIXES,
    REFERENCE_NAME,
    REFLECTION_ATTRIBUTES,
    TENSOR_CLASSES,
    TORCH_MODES,
    Names,
    forbidden,
    read_cell,
)
from .layout import Chapter
from .manifest import ready_made_table
from .notebooks import read_notebook

# answer cell -> names of ready-made versions of what it asks the learner to write
# (torch's built-ins and the course's own reference), from the chapters' manifests.
# Any attribute or import of the answer's own function name from a module
# (rnn.lstm_cell, F.layer_norm) counts too.
READY_MADE = ready_made_table()

@dataclass(frozen=True)
class Flag:
    grade_id: str  # the answer cell
    line: int  # 1-based, within the cell
    what: str

    def __str__(self) -> str:
        return f"{self.grade_id}, line {self.line}: {self.what}"


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _assigned_objects(target: ast.AST):
    """The objects an assignment target writes into: `a.b[i].c = ...` writes into a.b[i].c, a.b[i]
    and a.b, but not into whatever computes the index i (`x[torch.arange(3)] = 0` changes x only)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _assigned_objects(element)
    elif isinstance(target, ast.Starred):
        yield from _assigned_objects(target.value)
    elif isinstance(target, (ast.Attribute, ast.Subscript)):
        yield target
        yield from _assigned_objects(target.value)


def imported_names(sources: list[str]) -> set[str]:
    """Every name an import binds anywhere in these cells (modules and objects alike)."""
    return set(_import_targets(sources))


def _module_level_bindings(tree: ast.Module):
    """(node, name) for every name a cell binds in the notebook's namespace: assignments, loop and
    `with` targets, walruses, definitions, imports and deletions outside any function or class."""
    def names_in(target):
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                yield from names_in(element)
        elif isinstance(target, ast.Starred):
            yield from names_in(target.value)

    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node, node.name
            stack.extend(node.decorator_list)
            continue  # its body has a scope of its own
        if isinstance(node, ast.Lambda):
            continue
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr)):
            targets = [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [node.optional_vars]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield node, (alias.asname or alias.name).split(".")[0]
        elif isinstance(node, ast.ExceptHandler) and node.name:
            yield node, node.name
        for target in targets:
            for name in names_in(target):
                yield node, name
        stack.extend(ast.iter_child_nodes(node))


def _import_targets(sources: list[str]) -> dict[str, set[str]]:
    """name -> what the imports of these cells bind it to ("torch", "course_lib.checks", ...)."""
    targets: dict[str, set[str]] = {}
    for source in sources:
        tree = read_cell(source).tree
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    name = a.asname or a.name.split(".")[0]
                    targets.setdefault(name, set()).add(a.name if a.asname else a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    targets.setdefault(a.asname or a.name, set()).add(f"{node.module}.{a.name}")
    return targets


def _rebindings(tree: ast.Module, protected: dict[str, set[str]], answers: set[str], own: set[str]):
    """(node, message) for each module-level binding of a name other code relies on: a name the
    notebook's imports bind (rebound to anything but the same import), a builtin, or another answer's
    function. `own`: the names this cell may define (its exercise's functions)."""
    for node, name in _module_level_bindings(tree):
        if name in answers:
            yield node, f"redefines {name}, an exercise's answer, outside its answer cell"
            continue
        if name in own:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)) and name in protected:
            alias = next(a for a in node.names if (a.asname or a.name).split(".")[0] == name)
            bound = (f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom)
                     else alias.name if alias.asname else alias.name.split(".")[0])
            if bound in protected[name] or (not protected[name] and bound == name):
                continue  # the same import again (or, where the notebook's is unknown, `import torch` itself)
        if name in protected:
            yield node, f"rebinds {name}, which the notebook imported, for every later cell (the tests included)"
        elif name in BUILTIN_NAMES:
            yield node, f"rebinds the builtin {name} for every later cell (the tests included)"



_CHARACTER_BUILDERS = {"builtins.chr", "builtins.bytes", "builtins.bytearray", "builtins.reversed"}
_DECODERS = {"decode", "fromhex", "b64decode", "a85decode", "unhexlify", "translate"}
# methods that change a dict in place: X.__dict__.update(...) writes into X
_DICT_WRITES = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


class _Scan:
    """The rules, applied to one cell's tree. Each rule method flags what it finds."""

    def __init__(self, grade_id: str, tree: ast.Module, names: Names, imported: set[str], own_names: set[str]):
        self.grade_id, self.tree, self.names, self.imported, self.own_names = grade_id, tree, names, imported, own_names
        self.flags: list[Flag] = []
        self.parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        self.flagged: set[ast.AST] = set()  # chains flagged whole: their inner parts are not flagged again

    def flag(self, node: ast.AST, what: str) -> None:
        self.flags.append(Flag(self.grade_id, getattr(node, "lineno", 1), what))
        self.flagged.add(node)

    def ready_made(self, name: str) -> bool:
        # the checks' own reference answers are private helpers named after the exercise
        # (checks.gpt._reference_merge): as ready-made as the library's public version
        return name in self.own_names or (name.startswith("_") and any(own in name for own in self.own_names))

    def run(self) -> list[Flag]:
        for node in ast.walk(self.tree):  # breadth first: a chain comes before its parts
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                self.assignment(node)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                replaced = [n for n in node.names if n in self.imported]
                if replaced:
                    self.flag(node, f"rebinds the imported name(s) {', '.join(replaced)} for the whole notebook")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.import_(node)
            elif isinstance(node, ast.ClassDef):
                self.class_(node)
            elif isinstance(node, ast.Call):
                self.call(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                self.string(node)
            if isinstance(node, (ast.Name, ast.Attribute)):
                self.name(node)
        return self.flags

    # --- what the names stand for
    def name(self, node: ast.Name | ast.Attribute) -> None:
        parent = self.parents.get(node)
        if isinstance(parent, ast.Attribute) and parent in self.flagged:
            return
        text = ast.unparse(node)
        last = node.id if isinstance(node, ast.Name) else node.attr
        if last in IPYTHON_HOOKS:
            return self.flag(node, f"touches IPython's machinery ({last}): code that can change how later cells run")
        if last in TORCH_MODES:
            return self.flag(node, f"uses torch's function modes or overrides ({last}): code that can change every "
                                   "torch call")
        if not isinstance(node.ctx, ast.Load):
            return
        self.origins(node, text, parent)
        if isinstance(node, ast.Attribute) and node not in self.flagged:
            self.attribute(node, parent)

    def origins(self, node: ast.AST, text: str, parent: ast.AST | None) -> None:
        """The rules about what an expression stands for: forbidden modules and builtins, ready-made versions."""
        for origin in sorted(self.names.resolve(node)):
            alias = "" if origin == text else f" ({origin})"
            if origin == "os.environ" and not (isinstance(parent, ast.Subscript)
                                               or isinstance(parent, ast.Attribute) and parent.attr == "get"):
                return self.flag(node, f"uses {text}{alias} whole: the environment, where the grader can be told apart")
            if self.ready_made(origin.split(".")[-1]) or REFERENCE_NAME.search(origin.split(".")[-1]) \
                    and origin.startswith("course_lib"):
                return self.flag(node, f"uses {text}, a ready-made version of this exercise{alias}")
            why = forbidden(origin)
            if why:
                return self.flag(node, f"uses {text}{alias}: {why}")
            builtin = origin[len("builtins."):] if origin.startswith("builtins.") else None
            if builtin in CALL_CHECKED_BUILTINS and not self._called_or_aliased(node, parent):
                return self.flag(node, f"passes {builtin} on uncalled: the report cannot see what it is applied to")

    def _called_or_aliased(self, node: ast.AST, parent: ast.AST | None) -> bool:
        return (isinstance(parent, ast.Call) and parent.func is node) or \
            (isinstance(parent, (ast.Assign, ast.NamedExpr)) and parent.value is node)

    def attribute(self, node: ast.Attribute, parent: ast.AST | None) -> None:
        """The rules about an attribute's own name, whatever it is an attribute of (reflection, files)."""
        name, owner = node.attr, node.value
        if name in REFLECTION_ATTRIBUTES and not (name in ("__setattr__", "__delattr__", "__getattribute__")
                                                  and self._receiver(owner)):
            self.flag(node, f"uses .{name}: a namespace, code, a class's family or a running frame, looked up at "
                            "run time")
        elif name == "__dict__":
            written = (isinstance(parent, ast.Subscript) and not isinstance(parent.ctx, ast.Load)) or \
                (isinstance(parent, ast.Attribute) and parent.attr in _DICT_WRITES)
            if self.names.resolve(owner):
                self.flag(node, f"uses .__dict__ of {ast.unparse(owner)}, a module, function or class it did not "
                                "create: its namespace, looked up at run time")
            elif written and not self._receiver(owner):
                self.flag(node, f"changes {ast.unparse(owner)}.__dict__, the namespace of an object it did not create")
        elif name in FILE_METHODS:
            self.flag(node, f"uses .{name}(): files or processes, which no exercise needs")

    def _receiver(self, node: ast.AST) -> bool:
        """Is node the learner's own object: `self` (the first parameter of a method of a class the
        learner writes) or super()?"""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super":
            return True
        if not isinstance(node, ast.Name):
            return False
        scope = self.parents.get(node)
        while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = self.parents.get(scope)
        if scope is None or not isinstance(self.parents.get(scope), ast.ClassDef):
            return False
        positional = scope.args.posonlyargs + scope.args.args
        return bool(positional) and positional[0].arg == node.id and not self.names.resolve(node)

    # --- writes into what other code relies on
    def assignment(self, node) -> None:
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            for part in _assigned_objects(target):
                owner = part.value
                if isinstance(part, ast.Attribute) and part.attr == "__class__":
                    self.flag(node, f"assigns to {ast.unparse(part)}: swaps what an object (or a module) is")
                elif isinstance(part, ast.Attribute) and (self.names.resolve(owner) or _root_name(part) in self.imported):
                    self.flag(node, f"assigns to {ast.unparse(part)}, an attribute of an imported module or object")
                elif isinstance(part, ast.Attribute) and part.attr.startswith("__") and not self._receiver(owner) \
                        and not (isinstance(owner, ast.Name) and owner.id in self.names.classes):
                    self.flag(node, f"assigns to {ast.unparse(part)}: a special method of a class it did not write")
                elif isinstance(part, ast.Subscript) and self._shared(owner):
                    self.flag(node, f"writes into {ast.unparse(owner)}, an imported module or object")

    def _shared(self, owner: ast.AST) -> bool:
        """Is owner an imported object itself (checks.TABLE, os.environ, an imported name), not merely a
        name that may hold one of its items (`for kind in KINDS`, then `kind = torch.zeros(3)`)?"""
        origins = self.names.resolve(owner)
        if isinstance(owner, ast.Name):
            return owner.id in self.imported or "os.environ" in origins
        return bool(origins)

    def import_(self, node) -> None:
        module = node.module if isinstance(node, ast.ImportFrom) else None
        for alias in node.names:
            full = f"{'.' * getattr(node, 'level', 0)}{module}.{alias.name}" if module else alias.name
            why = forbidden(full)
            if alias.name == "*":
                self.flag(node, f"imports every name of {module}: names the report cannot follow")
            elif self.ready_made(alias.name) or full.split(".")[0] in self.own_names:
                self.flag(node, f"imports {full}, a ready-made version of this exercise")
            elif why:
                self.flag(node, f"imports {full}: {why}")

    def class_(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            origins = self.names.resolve(base)
            if origins & TENSOR_CLASSES or any(o.endswith(".Tensor") for o in origins):
                self.flag(node, f"class {node.name} subclasses torch.Tensor: its objects can change what every torch "
                                "call on them does")
            if "builtins.type" in origins:
                self.flag(node, f"class {node.name} is a metaclass: code that runs when classes are made")
        if any(k.arg == "metaclass" for k in node.keywords):
            self.flag(node, f"class {node.name} has a metaclass: code that runs when the class is made")
        for statement in node.body:
            names = [statement.name] if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) else \
                [t.id for t in getattr(statement, "targets", []) if isinstance(t, ast.Name)]
            for name in set(names) & FOOLING_METHODS:
                self.flag(statement, f"class {node.name} defines {name}: its objects can pass a comparison or "
                                     "change torch calls whatever they hold")

    # --- calls judged by their arguments
    def call(self, node: ast.Call) -> None:
        function = self.names.resolve(node.func)
        args = node.args
        if "builtins.getattr" in function and len(args) >= 2:
            self.getattr_(node, args[0], args[1])
        if function & {"builtins.setattr", "builtins.delattr"} and args:
            self.setattr_(node, args[0], args[1] if len(args) > 1 else None)
        if "builtins.vars" in function:
            if not args:
                self.flag(node, "uses vars() without an argument: the notebook's namespace")
            elif self.names.resolve(args[0]):
                self.flag(node, f"uses vars on {ast.unparse(args[0])}, a module, function or class it did not create")
        if "builtins.open" in function:
            path = args[0] if args else next((k.value for k in node.keywords if k.arg == "file"), None)
            self.open_(node, path)
        if "builtins.type" in function and len(args) == 3:
            self.flag(node, "makes a class at run time with type(name, bases, namespace)")
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in self.names.classes and args and self.names.resolve(args[0]):
            self.flag(node, f"calls {ast.unparse(node.func)} with {ast.unparse(args[0])}, an imported object, as self")

    def getattr_(self, node: ast.Call, owner: ast.AST, name: ast.AST) -> None:
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            if name.value in REFLECTION_ATTRIBUTES or name.value == "__dict__":
                self.flag(node, f"uses getattr(..., {name.value!r}): a namespace, code or a frame, looked up at run time")
            else:  # getattr(F, "name") is F.name
                self.origins(node, f"getattr({ast.unparse(owner)}, {name.value!r})", self.parents.get(node))
        elif self._built_from_characters(name):
            self.flag(node, "uses getattr with a name built from characters: code looked up at run time")
        elif self.names.resolve(owner):
            self.flag(node, f"uses getattr with a computed name on {ast.unparse(owner)}: code looked up at run time")

    def setattr_(self, node: ast.Call, owner: ast.AST, name: ast.AST | None) -> None:
        what = ast.unparse(node.func)
        value = self.names.string(name) if name is not None else None
        if self._receiver(owner):
            return  # the learner's own object: setattr(self, name, nn.Parameter(...))
        if self.names.resolve(owner):
            self.flag(node, f"uses setattr on {ast.unparse(owner)}, an imported module or object" if what == "setattr"
                      else f"uses {what} (setattr) on {ast.unparse(owner)}, an imported module or object")
        elif value is None:
            self.flag(node, f"uses setattr with a computed name on {ast.unparse(owner)}, which is not the learner's "
                            "own object (self)")
        elif value.startswith("__"):
            self.flag(node, f"uses setattr to set {value} on {ast.unparse(owner)}: a special attribute")

    def _built_from_characters(self, node: ast.AST) -> bool:
        for part in ast.walk(node):
            if isinstance(part, ast.Attribute) and part.attr in _DECODERS:
                return True
            if isinstance(part, ast.Name) and self.names.resolve(part) & _CHARACTER_BUILDERS:
                return True
        return False

    def open_(self, node: ast.Call, path: ast.AST | None) -> None:
        """open() of a file in the notebook's own folder (a relative path, no ..) is honest; anything else,
        or a path the report cannot read, is not."""
        text = self._path_text(path)
        if text is None:
            return self.flag(node, "uses open() on a path the report cannot read (write the file's name in the cell)")
        parts = text.replace("\\", "/").split("/")
        if text.startswith(("/", "~", "\\")) or ":" in text or ".." in parts:
            self.flag(node, f"uses open() on {text!r}, outside the notebook's folder")
        elif text.lower().endswith(PROTECTED_SUFFIXES):
            self.flag(node, f"uses open() on {text!r}: a file Python or the grader reads as its own")

    def _path_text(self, node: ast.AST | None) -> str | None:
        if isinstance(node, ast.JoinedStr):  # f"step_{i}.txt": the fixed parts are what matters
            pieces = [self.names.string(v) if isinstance(v, ast.Constant) else "x" for v in node.values]
            return None if None in pieces else "".join(pieces)
        return self.names.string(node) if node is not None else None

    # --- strings
    def string(self, node: ast.Constant) -> None:
        value = node.value
        if value != self.grade_id and (self.ready_made(value) or value.startswith("_reference")
                                       or (value.isidentifier() and REFERENCE_NAME.search(value))):
            self.flag(node, f"names {value!r}, a ready-made version of this exercise, in a string")
        elif GRADER_WORDS.search(value) and len(value) < 200:
            self.flag(node, f"names the grader ({GRADER_WORDS.search(value).group(0)!r}): code that can tell when "
                            "it is graded")


def scan_answer(grade_id: str, source: str, imported: set[str],
                protected: dict[str, set[str]] | None = None, answers: set[str] = frozenset(),
                own: set[str] | None = None, names: Names | None = None) -> list[Flag]:
    """The flags of one answer cell. `imported`: the names the notebook's imports bind.

    protected: name -> import targets of the notebook's other cells; answers: the
    function names the answer cells define; own: the names this cell may bind
    (default: the functions and classes it defines, when it is an answer cell);
    names: what each name of the notebook stands for (default: learned from this cell, and
    each imported name standing for itself).
    """
    reading = read_cell(source)
    if reading.tree is None:  # fail closed: what the report cannot read, it cannot vouch for
        return [Flag(grade_id, reading.problem_line, reading.problem)]
    tree = reading.tree
    imported = imported | imported_names([source])
    if names is None:
        names = Names(imported).learn(tree)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    flags = [Flag(grade_id, line, what) for line, what in reading.magics]
    if protected is None:
        protected = {name: set() for name in imported}
    for node, what in _rebindings(tree, protected, set(answers), defined if own is None else own):
        flags.append(Flag(grade_id, getattr(node, "lineno", 1), what))
    flags += _Scan(grade_id, tree, names, imported, READY_MADE.get(grade_id, set()) | {grade_id}).run()
    unique = {(f.line, f.what): f for f in flags}
    return sorted(unique.values(), key=lambda f: f.line)


def report(chapter: Chapter, nb) -> dict[str, list[Flag]]:
    """Exercise grade_id (the test cell) -> the flags of its answer cells, for a learner's notebook.

    Code cells that are neither answers nor tests and differ from every cell of
    the release (added or edited by the learner) are read too: their flags count
    against every exercise whose test cell comes after them, as they run first.
    What a name stands for is learned from every code cell of the notebook.
    """
    answers = solution_sources(nb)
    code_cells = [c.source for c in nb.cells if c.cell_type == "code"]
    others = [c.source for c in nb.cells if c.cell_type == "code" and not is_solution_cell(c)]
    imported = imported_names(others + list(answers.values()))
    names = Names().learn(*(read_cell(source).tree for source in code_cells))
    released = read_notebook(chapter.release)
    # what the release's own cells import: a learner's cell that binds one of these names otherwise rebinds it
    protected = _import_targets([c.source for c in released.cells
                                 if c.cell_type == "code" and not is_solution_cell(c)])
    answer_functions = _answer_functions(chapter)
    every_answer = set().union(*answer_functions.values())
    flags: dict[str, list[Flag]] = {}
    for exercise in chapter.exercises():
        found = [f for gid in exercise.solution_ids
                 for f in scan_answer(gid, answers.get(gid, ""), imported, protected,
                                      every_answer - answer_functions.get(gid, set()), names=names)]
        if found:
            flags[exercise.grade_id] = found
    release = {c.source.strip() for c in released.cells if c.cell_type == "code"}
    test_positions = {grade_meta(c)["grade_id"]: i for i, c in enumerate(nb.cells) if is_test_cell(c)}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or is_solution_cell(cell) or is_test_cell(cell) \
                or cell.source.strip() in release:
            continue
        found = scan_answer(f"cell {i + 1} (not an answer cell)", cell.source, imported, protected,
                            every_answer, own=set(), names=names)
        for exercise in chapter.exercises():
            if found and test_positions.get(exercise.grade_id, -1) > i:
                flags.setdefault(exercise.grade_id, []).extend(found)
    return flags


def _answer_functions(chapter: Chapter) -> dict[str, set[str]]:
    """Answer cell -> the functions and classes its reference answer defines (what the tests call)."""
    out = {}
    for gid, source in solution_sources(read_notebook(chapter.source)).items():
        tree = read_cell(source).tree
        if tree is not None:
            out[gid] = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return out
