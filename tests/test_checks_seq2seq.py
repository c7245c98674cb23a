"""Chapter 02's visible checks: course_lib's reference answers pass, the wrong
answers in tests/answers/02_seq2seq fail with a hint, the alternatives pass,
and no check moves the global RNG."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_lib import checks
from course_lib.data.vocab import PAD_ID
from course_lib.decoding import greedy_decode
from course_lib.seq2seq import decoder_step, encode, masked_cross_entropy

ANSWERS = Path(__file__).resolve().parent / "answers" / "02_seq2seq"
CHECKS = {"encode": checks.check_encoder, "decoder_step": checks.check_decoder_step,
          "masked_cross_entropy": checks.check_masked_cross_entropy, "greedy_decode": checks.check_greedy_decode}
REFERENCES = {"encode": encode, "decoder_step": decoder_step,
              "masked_cross_entropy": masked_cross_entropy, "greedy_decode": greedy_decode}


def _load(path: Path):
    namespace = dict(torch=torch, F=F, PAD_ID=PAD_ID, pack_padded_sequence=pack_padded_sequence,
                     pad_packed_sequence=pad_packed_sequence)
    exec(path.read_text(), namespace)
    return namespace[path.parent.name]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_reference_passes_and_leaves_the_global_rng_alone(name, capsys):
    torch.manual_seed(0)
    expected_next = torch.rand(3)
    torch.manual_seed(0)
    CHECKS[name](REFERENCES[name])
    assert torch.equal(torch.rand(3), expected_next), "a check consumed the global RNG"
    assert capsys.readouterr().out.strip().endswith("checks passed.")


@pytest.mark.parametrize("path", sorted(ANSWERS.glob("*/alternative_*.py")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_alternative_answers_pass(path):
    CHECKS[path.parent.name](_load(path))


@pytest.mark.parametrize("path", sorted(ANSWERS.glob("*/mutant_*.py")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_wrong_answers_fail_with_a_message(path):
    with pytest.raises((AssertionError, RuntimeError)) as info:
        CHECKS[path.parent.name](_load(path))
    assert len(str(info.value)) > 40


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
