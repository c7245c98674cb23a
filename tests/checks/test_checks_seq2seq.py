"""Chapter 02's answer files against its visible checks (the shared tests of tests/helpers/answer_checks.py),
and no check moves the global RNG."""
import pkgutil

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib import checks
from course_lib.data.vocab import PAD_ID
from course_lib.seq2seq import decoder_step, encode

CHAPTER = "02_seq2seq"  # its answer cells, checks, references and hints: solutions/02_seq2seq/chapter.toml
# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, F=F, PAD_ID=PAD_ID, pack_padded_sequence=pack_padded_sequence,
                 pad_packed_sequence=pad_packed_sequence)
# unsorted lengths packed without enforce_sorted=False: torch's own error says what to pass
MUTANT_ERRORS = (AssertionError, RuntimeError)


@pytest.mark.parametrize("name", ["encode", "decoder_step", "masked_cross_entropy", "greedy_decode"])
def test_the_checks_leave_the_global_rng_alone(name, capsys):
    from course_lib.grader import find_chapter, manifest

    answer = manifest.load(find_chapter(CHAPTER)).answers[name]
    torch.manual_seed(0)
    expected_next = torch.rand(3)
    torch.manual_seed(0)
    getattr(checks, answer.check)(pkgutil.resolve_name(answer.reference))
    assert torch.equal(torch.rand(3), expected_next), "a check consumed the global RNG"
    assert capsys.readouterr().out.strip().endswith("checks passed.")


def test_encode_and_decoder_step_equal_the_modules():
    from course_lib.seq2seq import Decoder, Encoder
    torch.manual_seed(0)
    enc, dec = Encoder(9, 4, 6, num_layers=2), Decoder(7, 4, 6, num_layers=2)
    src = torch.tensor([[5, 6, 7, 2], [8, 2, 0, 0]])
    lengths = torch.tensor([4, 2])
    for mine, theirs in zip(encode(src, lengths, enc.embedding, enc.rnn), enc(src, lengths)):
        torch.testing.assert_close(mine, theirs)
    h = torch.randn(2, 2, 6)
    for mine, theirs in zip(decoder_step(torch.tensor([1, 4]), h, dec.embedding, dec.rnn, dec.out),
                            dec.step(torch.tensor([1, 4]), h)):
        torch.testing.assert_close(mine, theirs)


from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
