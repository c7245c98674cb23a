"""Numbers one chapter quotes from another must be the ones that chapter measured.

Chapter 06 compares its GPT with chapter 01's models on the same held-out text
without re-training them; the perplexities it quotes are checked here against
the outputs stored in chapter 01's solution notebook, so re-running chapter 01
with different results makes this fail until chapter 06 is updated.
"""
import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _outputs(chapter: str) -> str:
    nb = json.loads((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def _quoted(chapter: str, name: str) -> dict:
    nb = json.loads((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text())
    for cell in nb["cells"]:
        match = re.search(rf"^{name} = (\{{.*?\}})$", "".join(cell["source"]), re.M)
        if match:
            return ast.literal_eval(match.group(1))
    raise AssertionError(f"{chapter} has no `{name} = {{...}}` line")


def test_chapter_06_quotes_chapter_01s_perplexities():
    quoted = _quoted("06_gpt", "chapter1")
    stored = _outputs("01_rnn")
    expected = {
        "unigram (ch. 1)": r"order 0: held-out perplexity\s+([\d.]+)",
        "Markov, order 6 (ch. 1)": r"order 6: held-out perplexity\s+([\d.]+)",
        "char LSTM (ch. 1)": r"trained \d+ steps in \d+ s; held-out perplexity ([\d.]+)",
    }
    assert set(quoted) == set(expected)
    for name, pattern in expected.items():
        match = re.search(pattern, stored)
        assert match, f"chapter 01's outputs no longer print {name!r}"
        assert quoted[name] == float(match.group(1)), (
            f"chapter 06 quotes {name} = {quoted[name]}, chapter 01 measured {match.group(1)}")
