"""interop.gpt_from_hf: HuggingFace GPT-2 weights in our GPT give the same logits and the same text.

The GPT-2 models are small, randomly initialised ones built here from a GPT2Config:
nothing is downloaded. Skipped when the optional `transformers` is not installed.
"""
import pytest
import torch

transformers = pytest.importorskip("transformers")

from course_lib.gpt import GPT, causal_lm_loss  # noqa: E402
from course_lib.interop import gpt_from_hf, load_gpt2  # noqa: E402


def hf_gpt2(dtype=torch.float32, seed=0, **overrides):
    config = dict(vocab_size=101, n_positions=48, n_embd=32, n_layer=3, n_head=4,
                  bos_token_id=None, eos_token_id=None, pad_token_id=0)
    config.update(overrides)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**config)).to(dtype)
    # Random values everywhere (GPT-2's init leaves biases 0 and LayerNorms 1,
    # which would hide a bias or gain copied to the wrong place).
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=dtype)
            p.copy_(1 + 0.2 * noise if "ln_" in name and name.endswith("weight") else 0.2 * noise)
    return model.eval()


def ids(*shape, vocab=101, seed=1):
    return torch.randint(vocab, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
def test_same_logits_and_loss(dtype, tol):
    theirs = hf_gpt2(dtype)
    ours = gpt_from_hf(theirs)
    assert isinstance(ours, GPT) and not ours.training
    assert ours.tok_emb.weight.dtype == dtype and ours.lm_head.weight is ours.tok_emb.weight
    cfg = ours.config
    assert (cfg.vocab_size, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd) == (101, 48, 3, 4, 32)
    x = ids(3, 48)
    with torch.no_grad():
        expected = theirs(x, labels=x)
        logits, _ = ours(x)
    torch.testing.assert_close(logits, expected.logits, rtol=tol, atol=tol)
    # HuggingFace shifts the labels inside the model, as causal_lm_loss does (it computes the loss in float32)
    torch.testing.assert_close(causal_lm_loss(logits, x).float(), expected.loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generation_equals_huggingface(use_cache):
    theirs = hf_gpt2(torch.float64, seed=2)
    ours = gpt_from_hf(theirs)
    prompt = ids(2, 6, seed=3)
    with torch.no_grad():
        expected = theirs.generate(prompt, max_new_tokens=30, do_sample=False, pad_token_id=0,
                                   attention_mask=torch.ones_like(prompt))
    got = ours.generate(prompt, 30, top_k=1, use_cache=use_cache)
    assert torch.equal(got, expected)
    assert len(set(got[0, 6:].tolist())) > 3, "a degenerate model (one repeated token) would prove little"


def test_keeps_training_mode_and_sampling_works():
    theirs = hf_gpt2().train()
    ours = gpt_from_hf(theirs)
    assert ours.training and ours.config.dropout == theirs.config.resid_pdrop == 0.1
    out = ours.eval().generate(ids(1, 4), 5, top_p=0.9, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 9)


@pytest.mark.parametrize("overrides,message", [
    ({"activation_function": "relu"}, "activation_function='relu'"),
    ({"activation_function": "gelu"}, "activation_function='gelu'"),
    ({"n_inner": 96}, "n_inner=96"),
    ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon"),
    ({"scale_attn_by_inverse_layer_idx": True}, "attention scaled"),
])
def test_unsupported_configurations_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        gpt_from_hf(hf_gpt2(**overrides))


def test_other_activation_names_of_the_tanh_gelu_are_accepted():
    reference = gpt_from_hf(hf_gpt2())
    x = ids(2, 10)
    for name in ["gelu_pytorch_tanh", "gelu_fast"]:
        theirs = hf_gpt2(activation_function=name)
        with torch.no_grad():
            torch.testing.assert_close(gpt_from_hf(theirs)(x)[0], theirs(x).logits, rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(gpt_from_hf(theirs)(x)[0], reference(x)[0], rtol=1e-4, atol=1e-4)


def test_untied_output_layer_is_refused():
    theirs = hf_gpt2(tie_word_embeddings=False)
    with torch.no_grad():
        theirs.lm_head.weight.add_(1.0)
    with pytest.raises(ValueError, match="not tied"):
        gpt_from_hf(theirs)


def test_not_a_gpt2_model_is_refused():
    with pytest.raises(ValueError, match="GPT2LMHeadModel"):
        gpt_from_hf(torch.nn.Linear(3, 3))


def test_load_gpt2_from_a_saved_folder(tmp_path):
    theirs = hf_gpt2(seed=4)
    theirs.save_pretrained(tmp_path / "gpt2")
    ours = load_gpt2(tmp_path / "gpt2")
    x = ids(2, 12)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], theirs(x).logits, rtol=1e-4, atol=1e-4)
    with pytest.raises(FileNotFoundError, match="no folder"):
        load_gpt2(tmp_path / "missing")
