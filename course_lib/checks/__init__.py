"""Visible checks for the notebooks' exercises.

Each check_<exercise>(fn) calls the learner's function on fixed random inputs
with injected weights, compares with a torch built-in, and prints one line per
property that holds. On the first property that fails it raises an
AssertionError that says what is wrong and, when the wrong value matches a
common mistake (computed here, not guessed), what the mistake probably is.

One module per chapter (rnn, seq2seq, attention, ...); this package re-exports
every check, so notebooks call checks.check_<exercise>. To add a chapter's
checks: build inputs with _generator(seed), call
the function through _call (so shape errors get a hint), then use
expect_shape and _expect_close with a list of (wrong answer, hint) pairs.
Printed lines contain no floats that vary by machine, so notebooks that store
these outputs compare cleanly.
"""
from . import notebook, tools
from ._common import expect_shape, expect_tensor  # noqa: F401  (the notebooks' own cells use them)
from .assistant import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .bert import *  # noqa: F401,F403
from .embeddings import *  # noqa: F401,F403
from .finetuning import *  # noqa: F401,F403
from .gpt import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .scale import *  # noqa: F401,F403
from .self_attention import *  # noqa: F401,F403
from .seq2seq import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403

# Every check first makes sure the tools it compares with are still the originals
# (an answer cell could have replaced torch.allclose, say): see tools.py.
for _name, _value in list(globals().items()):
    if _name.startswith("check_") and callable(_value):
        globals()[_name] = tools.verified(_value)
del _name, _value

# In a notebook, a check run before its exercise is answered says so in one
# line instead of a traceback through this package.
notebook.install()
