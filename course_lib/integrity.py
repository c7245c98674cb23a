"""The integrity report: what an answer cell does besides answering.

Graded notebooks run the learner's code in the same kernel as the tests that
grade it, so code can reach the tests: replace `torch.allclose`, rewrite
later cells with an IPython transformer, enter a torch function mode, read the
reference answers or write a gradebook. A self-learner may also simply call
the library's own version of the exercise (the course invites it when stuck;
in a graded class it is not the learner's work).

This module reads the answer cells as text, outside any kernel, and flags such
code per exercise with its line; also every other code cell the learner added
or changed (the grader restores only the locked test cells), against every
exercise graded after it. It never runs the code. It is a report, not
a proof: it finds what is written plainly (an attribute assignment, a name);
code built from strings at run time (`exec`, `getattr(m, "al" + "lclose")`)
is flagged for using those tools, not understood.

`course check` prints the flags as INTEGRITY lines; `course grade` writes
them next to each student's scores and awards no points to a flagged
exercise unless the instructor allows it.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

from . import grading

# answer cell -> names of ready-made versions of what it asks the learner to write
# (torch's built-ins and the course's own reference). Any attribute or import of
# the answer's own function name from a module (rnn.lstm_cell, F.layer_norm) counts too.
READY_MADE = {
    "one_hot_embed": {"embedding", "Embedding", "EmbeddingBag", "embedding_bag"},
    "skipgram_pairs": {"skipgram_pairs", "corpus_pairs", "skipgrams"},
    "negative_sampling_loss": {"negative_sampling_loss", "SkipGram"},
    "analogy": {"analogy", "analogy_accuracy", "most_similar", "most_similar_cosmul", "gensim", "KeyedVectors"},
    "perplexity": {"perplexity"},
    "rnn_cell": {"RNNCell", "RNN", "rnn_tanh_cell", "rnn_relu_cell"},
    "clip_grad_norm": {"clip_grad_norm_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm"},
    "lstm_cell": {"LSTMCell", "LSTM", "lstm_cell"},
    "encode": {"Encoder", "Seq2Seq"},
    "decoder_step": {"Decoder", "AttentionDecoder"},
    "masked_cross_entropy": {"masked_cross_entropy"},
    "greedy_decode": {"greedy_decode", "predict"},
    "additive_score": {"AdditiveAttention"},
    "attention_context": {"attention_context", "AdditiveAttention"},
    "corpus_bleu": {"corpus_bleu", "sentence_bleu", "sacrebleu", "BLEU", "nltk"},
    "scaled_dot_product_attention": {"scaled_dot_product_attention"},
    "attention_mask": {"causal_mask", "padding_mask", "generate_square_subsequent_mask"},
    "multi_head_attention": {"MultiheadAttention", "MultiHeadAttention", "multi_head_attention_forward"},
    "positional_encoding": {"positional_encoding", "SinusoidalPositionalEncoding"},
    "layer_norm": {"layer_norm", "LayerNorm"},
    "decoder_layer": {"DecoderLayer", "TransformerDecoderLayer"},
    "warmup_lr": {"warmup_inverse_sqrt_lr", "warmup_inverse_sqrt_scheduler"},
    "beam_search": {"beam_search"},
    "merge": {"merge"},
    "causal_lm_loss": {"causal_lm_loss"},
    "top_p_filter": {"top_p_filter"},
    "attend_with_cache": {"cached_attention", "CausalSelfAttention"},
    "mask_tokens": {"mask_tokens", "DataCollatorForLanguageModeling"},
    "classification_head": {"ClassificationHead", "BertForSequenceClassification"},
    "fine_tune_step": {"fine_tune_step", "fine_tune_classifier"},
    "lora_linear": {"LoRALinear", "apply_lora", "peft"},
    "continuation_log_prob": {"continuation_log_prob"},
    "distillation_loss": {"distillation_loss"},
    "encode_chat": {"encode_chat", "apply_chat_template"},
    "response_labels": {"response_labels", "chat_batch"},
    "response_log_probs": {"response_log_probs", "pair_log_probs", "ForCausalLMLoss"},
    "dpo_loss": {"dpo_loss", "DPOTrainer", "trl", "train_dpo"},
    "average_gradients": {"average_gradients", "DistributedDataParallel", "data_parallel_backward"},
    "flops_per_token": {"training_flops_per_token", "measured_training_flops", "matmul_parameters",
                        "FlopCounterMode", "flop_counter"},
    "loss_scaling_step": {"loss_scaling_step", "GradScaler", "grad_scaler"},
}

# Names whose use in an answer cell reaches into the kernel or the grader.
IPYTHON_HOOKS = {"get_ipython", "input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                 "set_custom_exc", "register_magic_function", "run_cell", "events", "InteractiveShell",
                 "showtraceback", "_showtraceback", "custom_exceptions"}
TORCH_MODES = {"TorchFunctionMode", "TorchDispatchMode", "__torch_function__", "__torch_dispatch__",
               "overrides", "_set_torch_function_mode", "_push_on_torch_function_stack"}
DYNAMIC = {"exec", "eval", "compile", "__import__", "setattr", "delattr", "globals", "__builtins__",
           "builtins", "sys", "importlib", "inspect", "gc", "ctypes", "vars", "locals", "attrgetter",
           "methodcaller"}
# Attributes that reach a module's or a function's namespace, or a running frame's.
DYNAMIC_ATTRIBUTES = {"__dict__", "__globals__", "__getattribute__", "__code__", "__closure__", "__subclasses__",
                      "__builtins__", "f_back", "f_globals", "f_locals", "tb_frame", "gi_frame"}
BUILTIN_NAMES = set(dir(builtins))
FILES_AND_PROCESSES = {"open", "os", "shutil", "subprocess", "pathlib", "Path", "sqlite3", "glob", "io",
                       "signal", "socket", "multiprocessing", "threading", "nbformat", "nbgrader"}
FILE_METHODS = {"read_text", "write_text", "read_bytes", "write_bytes", "unlink", "rmtree", "_exit", "system",
                "popen", "Popen", "kill", "remove", "rename", "replace", "chmod", "symlink_to", "touch"}


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
        try:
            tree = ast.parse(source)
        except SyntaxError:
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


def scan_answer(grade_id: str, source: str, imported: set[str],
                protected: dict[str, set[str]] | None = None, answers: set[str] = frozenset(),
                own: set[str] | None = None) -> list[Flag]:
    """The flags of one answer cell. `imported`: the names the notebook's imports bind.

    protected: name -> import targets of the notebook's other cells; answers: the
    function names the answer cells define; own: the names this cell may bind
    (default: the functions and classes it defines, when it is an answer cell).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the grader reports it; nothing else runs
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    imported = imported | imported_names([source])
    own_names = READY_MADE.get(grade_id, set()) | {grade_id}
    flags: list[Flag] = []

    def ready_made(name: str) -> bool:
        # the checks' own reference answers are private helpers named after the exercise
        # (checks.gpt._reference_merge): as ready-made as the library's public version
        return name in own_names or (name.startswith("_") and any(own in name for own in own_names))

    def flag(node: ast.AST, what: str) -> None:
        flags.append(Flag(grade_id, getattr(node, "lineno", 1), what))

    if protected is None:
        protected = {name: set() for name in imported}
    for node, what in _rebindings(tree, protected, set(answers), defined if own is None else own):
        flag(node, what)
    for node in ast.walk(tree):
        # 1. replacing what other code relies on: attributes of imported modules or objects
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for part in _assigned_objects(target):
                    if isinstance(part, ast.Attribute) and _root_name(part) in imported:
                        flag(node, f"assigns to {ast.unparse(part)}, an attribute of an imported module or object")
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            replaced = [n for n in node.names if n in imported]
            if replaced:
                flag(node, f"rebinds the imported name(s) {', '.join(replaced)} for the whole notebook")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                if ready_made(alias.name) or full.split(".")[0] in own_names:
                    flag(node, f"imports {full}, a ready-made version of this exercise")
                elif (module or "").startswith("course_lib") and alias.name.startswith("_"):
                    flag(node, f"imports {full}, a private helper of the course's library (where the "
                               "checks keep their reference answers)")
        # getattr(module, "name"): the same as module.name; with a computed name, looked up at run time
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2:
            looked_up = node.args[1]
            if not (isinstance(looked_up, ast.Constant) and isinstance(looked_up.value, str)):
                flag(node, "uses getattr with a computed name: code looked up at run time")
            elif ready_made(looked_up.value) or looked_up.value.startswith("_reference"):
                flag(node, f"uses getattr(..., {looked_up.value!r}), a ready-made version of this exercise")
        # a ready-made version's name as a string, whatever looks it up (vars(m)[...], attrgetter)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value != grade_id \
                and (ready_made(node.value) or node.value.startswith("_reference")):
            flag(node, f"names {node.value!r}, a ready-made version of this exercise, in a string")
        # 2. names: ready-made versions, IPython hooks, torch modes, dynamic code, files and processes
        if isinstance(node, ast.Attribute):
            name, root = node.attr, _root_name(node)
            if ready_made(name) and root in imported:
                flag(node, f"uses {ast.unparse(node)}, a ready-made version of this exercise")
            elif name.startswith("_reference") and root in imported:
                flag(node, f"uses {ast.unparse(node)}, a reference answer kept by the course's checks")
            elif name in FILE_METHODS:
                flag(node, f"uses .{name}(): files, which no exercise needs")
            elif name in DYNAMIC_ATTRIBUTES:
                flag(node, f"uses .{name}: a namespace or a running frame, looked up at run time")
        elif isinstance(node, ast.Name):
            name = node.id
            if name in READY_MADE.get(grade_id, ()) and name in imported and name not in defined:
                flag(node, f"uses {name}, a ready-made version of this exercise")
            elif name in DYNAMIC:
                flag(node, f"uses {name}: code built or looked up at run time")
            elif name in FILES_AND_PROCESSES:
                flag(node, f"uses {name}: files or processes, which no exercise needs")
        else:
            continue
        if name in IPYTHON_HOOKS:
            flag(node, f"touches IPython's machinery ({name}): code that can change how later cells run")
        elif name in TORCH_MODES:
            flag(node, f"uses torch's function modes or overrides ({name}): code that can change every torch call")
    unique = {(f.line, f.what): f for f in flags}
    return sorted(unique.values(), key=lambda f: f.line)


def report(chapter: grading.Chapter, nb) -> dict[str, list[Flag]]:
    """Exercise grade_id (the test cell) -> the flags of its answer cells, for a learner's notebook.

    Code cells that are neither answers nor tests and differ from every cell of
    the release (added or edited by the learner) are read too: their flags count
    against every exercise whose test cell comes after them, as they run first.
    """
    answers = grading.solution_sources(nb)
    others = [c.source for c in nb.cells if c.cell_type == "code" and not grading.is_solution_cell(c)]
    imported = imported_names(others + list(answers.values()))
    released = grading.read_notebook(chapter.release)
    # what the release's own cells import: a learner's cell that binds one of these names otherwise rebinds it
    protected = _import_targets([c.source for c in released.cells
                                 if c.cell_type == "code" and not grading.is_solution_cell(c)])
    answer_functions = _answer_functions(chapter)
    flags: dict[str, list[Flag]] = {}
    for exercise in chapter.exercises():
        found = [f for gid in exercise.solution_ids
                 for f in scan_answer(gid, answers.get(gid, ""), imported, protected,
                                      set().union(*answer_functions.values()) - answer_functions.get(gid, set()))]
        if found:
            flags[exercise.grade_id] = found
    release = {c.source.strip() for c in released.cells if c.cell_type == "code"}
    test_positions = {grading.grade_meta(c)["grade_id"]: i for i, c in enumerate(nb.cells) if grading.is_test_cell(c)}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or grading.is_solution_cell(cell) or grading.is_test_cell(cell) \
                or cell.source.strip() in release:
            continue
        found = scan_answer(f"cell {i + 1} (not an answer cell)", cell.source, imported, protected,
                            set().union(*answer_functions.values()), own=set())
        for exercise in chapter.exercises():
            if found and test_positions.get(exercise.grade_id, -1) > i:
                flags.setdefault(exercise.grade_id, []).extend(found)
    return flags


def _answer_functions(chapter: grading.Chapter) -> dict[str, set[str]]:
    """Answer cell -> the functions and classes its reference answer defines (what the tests call)."""
    out = {}
    for gid, source in grading.solution_sources(grading.read_notebook(chapter.source)).items():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        out[gid] = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return out
