"""How the integrity report reads a cell (course_lib/grader/integrity.py applies the rules).

Two things a textual reading gets wrong unless it is careful:

1. A notebook cell is not Python until IPython has transformed it: `%time x = f()`,
   `%%time`, `!ls`, `f?` are rewritten into calls of get_ipython() before the
   kernel compiles the cell. `read_cell` runs IPython's own transformation, then
   puts the code that a timing magic runs back in place (so its lines are read
   like any other), and reports every other magic: harmless ones (plots, help)
   are dropped, those that run code outside Python (a shell, another file, an
   installer) are flagged. A cell that still does not parse is reported as such:
   the report never passes a cell it could not read.
2. A name is not what it is called: `fn = F; fn.scaled_dot_product_attention`,
   `import os as o`, `fetch = getattr`. `Names` follows what each name of the
   notebook may stand for through imports, assignments, tuple unpacking, function
   defaults, containers and returns, so a rule about `os.system` also meets
   `o.system`, and a rule about `getattr` meets `fetch(...)`.

The tables at the end say which modules, attributes and builtins reach past an
exercise; `forbidden(origin)` applies them to a dotted origin such as "os.system".
"""
from __future__ import annotations

import ast
import builtins
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# Reading a cell as the kernel will run it
# --------------------------------------------------------------------------

# magics whose argument or body is Python run in the notebook: read as if written without the magic
CODE_LINE_MAGICS = {"time", "timeit"}
CODE_CELL_MAGICS = {"time", "timeit", "capture"}
# magics that only show something or set up plotting or reloading: nothing to read
HARMLESS_LINE_MAGICS = {"matplotlib", "pinfo", "pinfo2", "psearch", "pdoc", "pdef", "who", "whos", "who_ls", "pwd",
                        "precision", "autoreload", "xmode", "lsmagic", "magic", "quickref"}
HARMLESS_CELL_MAGICS = {"markdown", "latex"}
# `%load_ext` loads any module's extension hook; only the reloader is allowed
HARMLESS_EXTENSIONS = {"autoreload"}
# magics that run code outside Python or another file, or change where the kernel reads and writes
OUTSIDE_PYTHON = {"system", "getoutput", "sx", "sc", "bash", "sh", "script", "perl", "ruby", "python", "python2",
                  "python3", "pypy", "run", "writefile", "file", "load", "loadpy", "save", "pip", "conda", "mamba",
                  "micromamba", "uv", "cd", "pushd", "popd", "bookmark", "alias", "macro", "store", "env", "config",
                  "html", "javascript", "js", "svg", "prun", "debug", "reset", "logstart", "rerun", "recall"}
_TIMEIT_OPTIONS = re.compile(r"^(\s*(-[nrp]\s*\d+(\.\d*)?|-[tcqo])\s+)*")  # %timeit -n 1 -r 1 code


@dataclass
class Reading:
    """A cell as the kernel will compile it, or why it could not be read."""

    tree: ast.Module | None
    problem: str | None = None  # why the cell could not be read
    problem_line: int = 1
    magics: list[tuple[int, str]] = field(default_factory=list)  # (line, flag) for each magic not allowed


def _parse(text: str) -> ast.Module:
    # the kernel runs top-level `await` (IPython's autoawait): so must the reading
    return compile(text, "<cell>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                   dont_inherit=True)


def _ipython_transform(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # no IPython: no kernel to run magics either
        return source
    return TransformerManager().transform_cell(source)


def _syntax_error(line: int, message: str) -> str:
    return f"could not read this cell: a syntax error at line {line} ({message}); nothing in it was checked"


@functools.lru_cache(maxsize=4096)  # a class's notebooks share most cells; the trees are only read
def read_cell(source: str) -> Reading:
    """The cell's syntax tree after IPython's transformation, with the code of timing magics in place."""
    try:
        text = _ipython_transform(source)
    except Exception as error:  # noqa: BLE001 - whatever IPython chokes on, the report must say so
        return Reading(None, f"could not read this cell: IPython could not transform it ({error})")
    try:
        tree = _parse(text)
    except SyntaxError as error:
        line = error.lineno or 1
        return Reading(None, _syntax_error(line, error.msg), line)
    reader = _MagicReader()
    tree = ast.fix_missing_locations(reader.visit(tree))
    if reader.problem:
        return Reading(None, *reader.problem)
    return Reading(tree, magics=reader.flags)


def _magic_call(node: ast.AST) -> tuple[str, str, str, str] | None:
    """(kind, name, line argument, body) when node is IPython's rewriting of a magic or a shell escape:
    get_ipython().run_line_magic('time', 'x = f()'), .run_cell_magic(name, line, body), .system('ls')."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "get_ipython" and not node.func.value.args and not node.keywords
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
        return None
    args = [a.value for a in node.args]
    method = node.func.attr
    if method == "run_line_magic" and len(args) == 2:
        return "line", args[0], args[1], ""
    if method == "run_cell_magic" and len(args) == 3:
        return "cell", args[0], args[1], args[2]
    if method in ("system", "getoutput") and len(args) == 1:
        return "line", method, args[0], ""
    return None


class _MagicReader(ast.NodeTransformer):
    """Replaces each magic by the code it runs (timing magics), by nothing (harmless ones), or by
    nothing and a flag (the rest)."""

    def __init__(self):
        self.flags: list[tuple[int, str]] = []
        self.problem: tuple[str, int] | None = None

    def _code(self, code: str, first_line: int) -> list[ast.stmt]:
        """The statements of a magic's code, numbered as the lines of the cell they stand on."""
        inner = read_cell(code)
        if inner.tree is None:  # numbered as a line of the whole cell
            line = inner.problem_line + first_line - 1
            self.problem = self.problem or (re.sub(r"at line \d+", f"at line {line}", inner.problem), line)
            return []
        ast.increment_lineno(inner.tree, first_line - 1)
        self.flags.extend((line + first_line - 1, what) for line, what in inner.magics)
        return inner.tree.body

    def _statements(self, magic, line: int) -> list[ast.stmt]:
        kind, name, argument, body = magic
        if kind == "line" and name in CODE_LINE_MAGICS:
            return self._code(_TIMEIT_OPTIONS.sub("", argument, count=1) if name == "timeit" else argument, line)
        if kind == "cell" and name in CODE_CELL_MAGICS:
            setup = self._code(_TIMEIT_OPTIONS.sub("", argument, count=1), line) if name == "timeit" else []
            return setup + self._code(body, line + 1)
        if (kind == "line" and name in HARMLESS_LINE_MAGICS) or (kind == "cell" and name in HARMLESS_CELL_MAGICS) \
                or (kind == "line" and name == "load_ext" and argument.strip() in HARMLESS_EXTENSIONS):
            return []
        shown = {"system": "!" + argument, "getoutput": "!" + argument}.get(name, ("%" if kind == "line" else "%%") + name)
        if name in OUTSIDE_PYTHON:
            what = f"runs {shown.strip()}: code outside Python (a shell, another file or program), which the " \
                   "report cannot read"
        else:
            what = f"uses the magic {shown.strip()}, which no exercise needs (allowed: %matplotlib, %time, %timeit, " \
                   "%%time, %%capture, %load_ext autoreload, help with ?)"
        self.flags.append((line, what))
        return []

    def visit_Expr(self, node: ast.Expr):
        magic = _magic_call(node.value)
        if magic is None:
            return self.generic_visit(node)
        return self._statements(magic, node.lineno) or [ast.copy_location(ast.Pass(), node)]

    def visit_Call(self, node: ast.Call):
        magic = _magic_call(node)
        if magic is None:
            return self.generic_visit(node)
        statements = self._statements(magic, node.lineno)  # `x = %time f()`: the value of f()
        if len(statements) == 1 and isinstance(statements[0], ast.Expr):
            return statements[0].value
        if statements:
            self.flags.append((node.lineno, "runs statements through a magic inside an expression, which the "
                                            "report cannot place"))
        return ast.copy_location(ast.Constant(None), node)


# --------------------------------------------------------------------------
# What a name stands for
# --------------------------------------------------------------------------

BUILTIN_NAMES = set(dir(builtins))
# builtins whose result is (one of) their arguments: next(iter([os])) is os
_PASS_THROUGH = {"builtins." + n for n in ("next", "iter", "list", "tuple", "set", "frozenset", "sorted", "reversed",
                                          "min", "max", "dict", "filter", "vars")}
# methods of containers that hand back what the container holds: {"a": os}.get("a") is os
_CONTAINER_METHODS = {"get", "pop", "popitem", "copy", "setdefault", "values", "items", "keys", "__getitem__"}


class Names:
    """name -> the dotted origins it may stand for ("os", "torch.nn.functional", "builtins.getattr"),
    learned from every cell of a notebook, whatever the order or scope (a name bound twice may stand for
    either). Only what comes from an import or a builtin has an origin: the learner's own objects
    have none."""

    def __init__(self, imported: set[str] = frozenset()):
        self.bound: dict[str, set[str]] = defaultdict(set)
        for name in imported:  # names known to be imported, where their import is not at hand
            self.bound[name].add(name)
        self.strings: dict[str, set[str]] = defaultdict(set)  # name -> the string constants it is bound to
        self.computed: set[str] = set()  # names bound to anything but a string constant
        self.classes: set[str] = set()  # classes the learner defines
        self._trees: list[ast.Module] = []

    def learn(self, *trees: ast.Module) -> Names:
        """Learn the bindings of these trees; until nothing new is learned (an alias of an alias...)."""
        self._trees.extend(t for t in trees if t is not None)
        for _ in range(8):
            before = sum(len(v) for v in self.bound.values())
            for tree in self._trees:
                self._learn_tree(tree)
            if sum(len(v) for v in self.bound.values()) == before:
                break
        return self

    def _learn_tree(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bound[alias.asname].add(alias.name)
                    else:
                        self.bound[alias.name.split(".")[0]].add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                for alias in node.names:
                    if alias.name != "*":
                        self.bound[alias.asname or alias.name].add(f"{module}.{alias.name}")
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(target, node.value)
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                self._bind(node.target, node.value)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                self._bind(node.target, node.iter, element=True)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                self._learn_function(node)
            elif isinstance(node, ast.ClassDef):
                self.classes.add(node.name)
                for statement in node.body:  # class attributes: Holder.m
                    if isinstance(statement, ast.Assign):
                        for target in statement.targets:
                            if isinstance(target, ast.Name):
                                self.bound[f"{node.name}.{target.id}"] |= self.resolve(statement.value)

    def _learn_function(self, node) -> None:
        args = node.args
        positional = args.posonlyargs + args.args
        for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            self.bound[arg.arg] |= self.resolve(default)  # def f(m=os): m.system(...)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            if default is not None:
                self.bound[arg.arg] |= self.resolve(default)
        if isinstance(node, ast.Lambda):
            return
        returned = set()
        stack = list(node.body)
        while stack:  # the function's own returns, not those of functions inside it
            statement = stack.pop()
            if isinstance(statement, ast.Return) and statement.value is not None:
                returned |= self.resolve(statement.value)
            if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.extend(ast.iter_child_nodes(statement))
        self.bound[node.name + "()"] |= returned

    def _bind(self, target: ast.AST, value: ast.AST, element: bool = False) -> None:
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) and not element \
                and len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts):
                self._bind(t, v)
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:  # a, b = pair(): each may be anything the value holds
                self._bind(t, value, element=True)
            return
        if isinstance(target, ast.Starred):
            self._bind(target.value, value, element=True)
            return
        origins = self.resolve(value)
        if isinstance(target, ast.Name):
            self.bound[target.id] |= origins
            if isinstance(value, ast.Lambda):
                self.bound[target.id + "()"] |= self.resolve(value.body)
            string = self.string(value)
            if string is not None and not element:
                self.strings[target.id].add(string)
            else:
                self.computed.add(target.id)
        elif isinstance(target, ast.Attribute):  # self.m = os: self.m.system(...)
            self.bound[ast.unparse(target)] |= origins
        elif isinstance(target, ast.Subscript):  # holder["m"] = os: the container holds os
            self.bound[ast.unparse(target.value)] |= origins

    def resolve(self, node: ast.AST | None) -> set[str]:
        """The origins an expression may evaluate to (empty: nothing imported or built in)."""
        if node is None:
            return set()
        if isinstance(node, ast.Name):
            found = set(self.bound.get(node.id, ()))
            if node.id == "__builtins__":
                found.add("builtins")
            elif node.id in BUILTIN_NAMES:
                found.add("builtins." + node.id)
            return found
        if isinstance(node, ast.Attribute):
            return set(self.bound.get(ast.unparse(node), ())) | {f"{o}.{node.attr}" for o in self.resolve(node.value)}
        if isinstance(node, ast.Subscript):
            inside = self.resolve(node.value)
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):  # vars(torch)["allclose"]
                return inside | {f"{o}.{key.value}" for o in inside}
            return inside
        if isinstance(node, ast.Call):
            return self._resolve_call(node)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return set().union(*(self.resolve(e) for e in node.elts))
        if isinstance(node, ast.Dict):
            return set().union(*(self.resolve(v) for v in node.values))
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.resolve(v) for v in node.values))
        if isinstance(node, ast.IfExp):
            return self.resolve(node.body) | self.resolve(node.orelse)
        if isinstance(node, (ast.NamedExpr, ast.Starred, ast.Await)):
            return self.resolve(node.value)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            return self.resolve(node.elt)
        return set()

    def _resolve_call(self, node: ast.Call) -> set[str]:
        function = self.resolve(node.func)
        first = node.args[0] if node.args else None
        name = self.string(node.args[1]) if len(node.args) > 1 else None
        if "builtins.getattr" in function and first is not None and name is not None:
            return {f"{o}.{name}" for o in self.resolve(first)}
        if function & {"importlib.import_module", "builtins.__import__"} and first is not None:
            module = self.string(first)
            return {module} if module else set()
        if function & _PASS_THROUGH:
            return set().union(*(self.resolve(a) for a in node.args), *(self.resolve(k.value) for k in node.keywords))
        found = set()
        if isinstance(node.func, ast.Attribute) and node.func.attr in _CONTAINER_METHODS:
            found |= self.resolve(node.func.value)
        if isinstance(node.func, ast.Name):
            found |= self.bound.get(node.func.id + "()", set())
        if isinstance(node.func, ast.Lambda):
            found |= self.resolve(node.func.body)
        return found

    def string(self, node: ast.AST) -> str | None:
        """The string an expression always evaluates to, when the report can tell."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id not in self.computed and len(self.strings.get(node.id, ())) == 1:
            return next(iter(self.strings[node.id]))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.string(node.left), self.string(node.right)
            return left + right if left is not None and right is not None else None
        if isinstance(node, ast.Call) and self.resolve(node.func) & {"os.path.join", "posixpath.join"}:
            parts = [self.string(a) for a in node.args]
            return "/".join(parts) if parts and None not in parts else None
        return None


# --------------------------------------------------------------------------
# What reaches past an exercise
# --------------------------------------------------------------------------

# modules no exercise needs, and what they reach
FORBIDDEN_MODULES = {
    **dict.fromkeys(["gc", "ctypes", "_ctypes", "importlib", "imp", "pkgutil", "zipimport", "runpy", "code", "codeop",
                     "marshal", "pickle", "_pickle", "cPickle", "dill", "cloudpickle", "shelve", "copyreg", "builtins",
                     "__builtin__", "__main__", "sitecustomize", "site", "atexit", "faulthandler", "sysconfig"],
                    "the interpreter's own machinery (objects, code, imports) reached at run time"),
    **dict.fromkeys(["IPython", "ipykernel", "jupyter_client", "nbformat", "nbgrader", "nbconvert", "nbclient",
                     "traitlets", "zmq"], "the kernel's or the grader's machinery"),
    **dict.fromkeys(["shutil", "subprocess", "pathlib", "sqlite3", "glob", "fnmatch", "signal", "socket", "select",
                     "multiprocessing", "threading", "_thread", "concurrent", "asyncio", "fcntl", "pty",
                     "posix", "nt", "mmap", "urllib", "http", "requests", "ftplib", "smtplib", "webbrowser",
                     "posixpath", "ntpath"], "files, processes or the network, which no exercise needs"),
}
# the parts of these modules that honest code reads; anything else of them is flagged
ALLOWED_ATTRIBUTES = {
    "os": {"path", "environ", "getenv", "getcwd", "listdir", "cpu_count", "getpid", "sep", "linesep", "name",
           "pathsep", "curdir", "extsep", "devnull"},
    "os.path": {"join", "exists", "isfile", "isdir", "basename", "dirname", "splitext", "split", "getsize",
                "normpath", "sep", "abspath", "relpath", "isabs"},
    "os.environ": {"get"},
    "sys": {"stdout", "stderr", "version", "version_info", "platform", "maxsize", "float_info", "int_info",
            "getsizeof", "getrecursionlimit", "setrecursionlimit", "byteorder", "hexversion", "implementation",
            "float_repr_style", "exit"},
    "inspect": {"signature", "Parameter", "Signature", "isclass", "isfunction", "ismethod", "getdoc", "cleandoc",
                "iscoroutinefunction", "isgeneratorfunction", "isgenerator", "isbuiltin", "isabstract",
                "getsource", "getsourcelines", "getfile"},  # reading source text is no trick; running it is
    "types": {"SimpleNamespace", "GeneratorType", "NoneType", "MappingProxyType", "GenericAlias", "UnionType",
              "EllipsisType"},
    "traceback": {"print_exc", "format_exc", "print_exception", "format_exception", "format_exception_only",
                  "print_stack", "format_stack", "extract_stack", "extract_tb", "TracebackException"},
    "io": {"StringIO", "BytesIO"},
    "operator": {"itemgetter", "add", "sub", "mul", "truediv", "floordiv", "neg", "pos", "abs", "eq", "ne", "lt",
                 "le", "gt", "ge", "and_", "or_", "xor", "not_", "matmul", "mod", "pow", "index", "contains",
                 "countOf", "indexOf", "iadd", "imul", "concat", "length_hint", "truth", "is_", "is_not"},
}
# torch's ways to change what every torch call does, and its private internals
TORCH_FORBIDDEN = {"library", "overrides", "ops", "load", "hub", "package", "_C", "_ops", "_dynamo", "_prims", "_refs", "_decomp",
                   "_subclasses", "_functorch", "_higher_order_ops", "_library", "_tensor", "_utils"}
TENSOR_CLASSES = {"torch.Tensor", "torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch._C.TensorBase",
                  "torch._C._TensorBase"}
# builtins that run or look up code built at run time (getattr, setattr, vars, open: by their arguments)
DYNAMIC_BUILTINS = {"exec", "eval", "compile", "__import__", "globals", "locals", "breakpoint", "__build_class__",
                    "__loader__", "__spec__"}
# builtins judged by their arguments at each call; passed around uncalled they escape that judgement
CALL_CHECKED_BUILTINS = {"getattr", "setattr", "delattr", "vars", "open"}
# attributes that reach a namespace, code, a class's family or a running frame
REFLECTION_ATTRIBUTES = {"__subclasses__", "__globals__", "__code__", "__closure__", "__builtins__", "__import__",
                         "__loader__", "__spec__", "__getattribute__", "__bases__", "__base__", "__mro__", "mro",
                         "__self__", "__func__", "__reduce__", "__reduce_ex__", "__traceback__", "__setattr__",
                         "__delattr__", "__wrapped__", "__kwdefaults__", "__defaults__", "__objclass__",
                         "f_back", "f_globals", "f_locals", "f_code", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
                         "ag_frame", "gi_code", "co_code", "co_consts"}
# methods that, defined on a class, make its objects pass comparisons or change torch calls
FOOLING_METHODS = {"__eq__", "__ne__", "__bool__", "__lt__", "__le__", "__gt__", "__ge__", "__float__", "__int__",
                   "__index__", "__round__", "__instancecheck__", "__subclasscheck__", "__array__",
                   "__array_function__", "__array_ufunc__", "__torch_function__", "__torch_dispatch__"}
# names that reach IPython's machinery or torch's function modes, whatever they are attributes of
IPYTHON_HOOKS = {"get_ipython", "input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                 "set_custom_exc", "register_magic_function", "run_cell", "events", "InteractiveShell",
                 "showtraceback", "_showtraceback", "custom_exceptions", "user_ns", "user_global_ns",
                 "input_transformer_manager", "run_line_magic", "run_cell_magic", "register_transformer"}
TORCH_MODES = {"TorchFunctionMode", "TorchDispatchMode", "__torch_function__", "__torch_dispatch__",
               "_set_torch_function_mode", "_push_on_torch_function_stack", "_push_mode", "enable_python_dispatcher"}
# attribute names that act on files or processes on whatever object holds them (list.remove does not)
FILE_METHODS = {"write_text", "write_bytes", "read_bytes", "unlink", "rmtree", "_exit", "system", "popen", "Popen",
                "kill", "killpg", "chmod", "chown", "symlink", "symlink_to", "hardlink_to", "mkfifo", "fork",
                "execv", "execve", "execvp", "spawnv", "putenv"}
# files a learner's open() may not touch: Python reads them as code, the grader as its own
PROTECTED_SUFFIXES = (".py", ".pyc", ".pyi", ".pth", ".so", ".ipynb", ".db", ".sqlite", ".cfg", ".ini", ".toml")
# the checks keep their reference answers under such names: _reference_merge, _additive_reference
REFERENCE_NAME = re.compile(r"(^|_)reference(_|$)")
# strings that name the grader or its files: a cell that looks for them behaves differently when graded
GRADER_WORDS = re.compile(r"nbgrader|gradebook|autograded|autograder|NBGRADER|JPY_|COURSE_GRAD", re.IGNORECASE)


def forbidden(origin: str) -> str | None:
    """Why a dotted origin reaches past an exercise, or None."""
    parts = origin.split(".")
    root = parts[0]
    if root == "builtins":
        if len(parts) == 1:
            return "the builtins module: every name of every cell"
        return "code built or looked up at run time" if parts[1] in DYNAMIC_BUILTINS else None
    if root in FORBIDDEN_MODULES:
        return FORBIDDEN_MODULES[root]
    for prefix in sorted(ALLOWED_ATTRIBUTES, key=len, reverse=True):  # os.path before os
        prefix_parts = prefix.split(".")
        if parts[:len(prefix_parts)] == prefix_parts and len(parts) > len(prefix_parts):
            if parts[len(prefix_parts)] not in ALLOWED_ATTRIBUTES[prefix]:
                return f"{prefix}.{parts[len(prefix_parts)]}: files, processes, frames or the interpreter's " \
                       "machinery, which no exercise needs"
            break
    if root == "torch" and any(p in TORCH_FORBIDDEN or (p.startswith("_") and not p.startswith(("__", "_foreach_")))
                               for p in parts[1:]):  # torch._foreach_div_ is a public fast path
        return "torch's internals or its ways to change what every torch call does"
    if root == "torch" and any(p.startswith("register_module_") for p in parts):
        return "a hook on every module of torch, the tests' models included"
    if root == "course_lib" and any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
        return "a private helper of the course's library (where the checks keep their reference answers)"
    if origin.startswith("course_lib.checks") and REFERENCE_NAME.search(parts[-1]):
        return "a reference answer kept by the course's checks"
    if origin.startswith("numpy.load"):
        return "numpy.load can run code stored in a file (pickle)"
    if root == "operator" and len(parts) > 1 and parts[1] in ("attrgetter", "methodcaller"):
        return "code looked up at run time"
    return None
