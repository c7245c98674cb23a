"""course_lib.gpt: the model, its loss, sampling filters and the KV cache."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.attention import causal_mask, scaled_dot_product_attention
from course_lib.gpt import (
    GPT,
    Block,
    GPTConfig,
    cached_attention,
    causal_lm_loss,
    top_k_filter,
    top_p_filter,
)

CFG = GPTConfig(vocab_size=37, block_size=24, n_layer=2, n_head=4, n_embd=16)


def make_gpt(config: GPTConfig = CFG, seed: int = 0, dtype=torch.float32, scale: float = 0.3) -> GPT:
    """A GPT with every parameter random (GPT-2's init makes near-uniform logits and many ties)."""
    torch.manual_seed(seed)
    model = GPT(config).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * scale)
    return model.eval()


def ids(*shape, vocab=CFG.vocab_size, seed=1):
    return torch.randint(vocab, shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- config and shapes


def test_config_is_validated():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(10, 8, 1, 3, 16)
    with pytest.raises(ValueError, match="n_layer must be a positive int"):
        GPTConfig(10, 8, 0, 2, 16)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(10, 8, 1, 2, 16, dropout=1.0)


def test_built_from_config_or_its_fields():
    assert GPT(vocab_size=37, block_size=24, n_layer=2, n_head=4, n_embd=16).config == CFG
    with pytest.raises(TypeError, match="not both"):
        GPT(CFG, n_layer=3)


def test_shapes_and_loss():
    model = make_gpt()
    x = ids(3, 10)
    logits, loss = model(x)
    assert logits.shape == (3, 10, CFG.vocab_size) and loss is None
    logits2, loss = model(x, targets=ids(3, 10, seed=2))
    assert loss.dim() == 0 and torch.equal(logits, logits2)
    assert model(ids(1, CFG.block_size))[0].shape == (1, CFG.block_size, CFG.vocab_size)


def test_loss_is_cross_entropy_on_the_given_targets_with_ignore_index():
    model = make_gpt()
    x, y = ids(2, 9), ids(2, 9, seed=5)
    y[0, :4] = -100
    logits, loss = model(x, y)
    expected = F.cross_entropy(logits.reshape(-1, CFG.vocab_size), y.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, expected)


def test_causal_lm_loss_shifts_targets():
    model = make_gpt()
    x = ids(3, 12)
    logits, _ = model(x)
    loss = causal_lm_loss(logits, x)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, CFG.vocab_size), x[:, 1:].reshape(-1))
    torch.testing.assert_close(loss, expected)
    # the same as giving the model the shifted targets (the last position's logits are unused)
    torch.testing.assert_close(loss, model(x[:, :-1], targets=x[:, 1:])[1], rtol=1e-5, atol=1e-6)
    not_shifted = F.cross_entropy(logits.reshape(-1, CFG.vocab_size), x.reshape(-1))
    assert not torch.isclose(loss, not_shifted)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        causal_lm_loss(logits[:, :1], x[:, :1])
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        causal_lm_loss(logits, x[:, :5])


def test_causality_future_tokens_do_not_change_earlier_logits():
    model = make_gpt(dtype=torch.float64)
    x = ids(2, 16)
    base, _ = model(x)
    for t in [0, 5, 15]:
        changed = x.clone()
        changed[:, t] = (changed[:, t] + 1) % CFG.vocab_size
        out, _ = model(changed)
        torch.testing.assert_close(out[:, :t], base[:, :t], rtol=0, atol=1e-12)
        assert not torch.allclose(out[:, t], base[:, t]), "the changed position itself must see its token"
        if t + 1 < 16:
            assert not torch.allclose(out[:, t + 1:], base[:, t + 1:]), "later positions must see it"


def test_block_equals_torch_pre_ln_encoder_layer_with_causal_mask():
    """Our block is nn.TransformerEncoderLayer(norm_first=True, GELU-tanh) with a causal mask."""
    config = GPTConfig(37, 24, 1, 4, 16)
    torch.manual_seed(0)
    ours = Block(config).double().eval()
    theirs = nn.TransformerEncoderLayer(16, 4, 64, dropout=0.0, activation=nn.GELU(approximate="tanh"),
                                        batch_first=True, norm_first=True, dtype=torch.float64).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
        theirs.self_attn.in_proj_weight.copy_(ours.attn.c_attn.weight)  # q, k, v stacked in that order
        theirs.self_attn.in_proj_bias.copy_(ours.attn.c_attn.bias)
        theirs.self_attn.out_proj.weight.copy_(ours.attn.c_proj.weight)
        theirs.self_attn.out_proj.bias.copy_(ours.attn.c_proj.bias)
        for mine, other in [(ours.mlp.linear1, theirs.linear1), (ours.mlp.linear2, theirs.linear2),
                            (ours.ln_1, theirs.norm1), (ours.ln_2, theirs.norm2)]:
            other.weight.copy_(mine.weight)
            other.bias.copy_(mine.bias)
    x = torch.randn(2, 11, 16, generator=g, dtype=torch.float64)
    expected = theirs(x, src_mask=~causal_mask(11), is_causal=True)
    out, (k, v) = ours(x)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    assert k.shape == v.shape == (2, 4, 11, 4)


def test_weight_tying():
    model = GPT(CFG)
    assert model.lm_head.weight is model.tok_emb.weight
    assert {"lm_head.weight", "tok_emb.weight"} <= set(model.state_dict())
    n_unique = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert model.num_parameters(non_embedding=False) == n_unique
    assert model.num_parameters() == n_unique - CFG.block_size * CFG.n_embd
    _, loss = model(ids(2, 8), ids(2, 8, seed=4))
    loss.backward()
    # the shared matrix gets gradient from both uses: the input rows used and every output row
    assert model.tok_emb.weight.grad is not None and bool((model.tok_emb.weight.grad != 0).all())


def test_init_scales_residual_projections():
    model = GPT(GPTConfig(50, 16, 8, 4, 64))
    std = model.blocks[0].attn.c_proj.weight.std().item()
    assert abs(std - 0.02 / math.sqrt(16)) < 0.002
    assert abs(model.blocks[0].attn.c_attn.weight.std().item() - 0.02) < 0.002


def test_bias_false_has_no_biases_and_works():
    model = GPT(GPTConfig(37, 24, 2, 4, 16, bias=False))
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())
    logits, loss = model(ids(2, 7), ids(2, 7, seed=2))
    loss.backward()
    out = model.generate(ids(1, 3), 5, top_k=1)
    assert out.shape == (1, 8)


def test_dropout_only_in_training():
    model = make_gpt(GPTConfig(37, 24, 2, 4, 16, dropout=0.3))
    x = ids(2, 10)
    model.train()
    assert not torch.equal(model(x)[0], model(x)[0])
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])


def test_bad_inputs_get_clear_errors():
    model = make_gpt()
    with pytest.raises(ValueError, match=r"\(batch, seq\) tensor of torch.long"):
        model(ids(5))
    with pytest.raises(ValueError, match="torch.long"):
        model(ids(2, 5).float())
    with pytest.raises(ValueError, match="longer than block_size=24"):
        model(ids(1, 25))
    with pytest.raises(ValueError, match=r"token id 37 is outside the vocabulary \[0, 37\)"):
        model(torch.tensor([[1, 37]]))
    with pytest.raises(ValueError, match="token id -1"):
        model(torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match="targets"):
        model(ids(2, 5), targets=ids(2, 4))
    with pytest.raises(ValueError, match="empty"):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(ids(1, 3), -1)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(ids(1, 3), 2, top_p=0.0)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(ids(1, 3), 2, top_k=0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(ids(1, 3), 2, temperature=-1.0)


# --------------------------------------------------------------------------- sampling filters


def test_top_k_filter():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0], [0.0, -1.0, 2.0, 1.0, -2.0]])
    out = top_k_filter(logits, 2)
    inf = float("-inf")
    assert torch.equal(out, torch.tensor([[inf, 5.0, inf, 4.0, inf], [inf, inf, 2.0, 1.0, inf]]))
    assert torch.equal(top_k_filter(logits, 5), logits) and torch.equal(top_k_filter(logits, 9), logits)
    greedy = top_k_filter(logits, 1)
    assert torch.equal(greedy.argmax(-1), logits.argmax(-1)) and (greedy.isfinite().sum(-1) == 1).all()
    with pytest.raises(ValueError):
        top_k_filter(logits, 0)


def test_top_p_filter_by_hand():
    logits = torch.tensor([0.15, 0.5, 0.05, 0.3]).log()  # sorted: 0.5, 0.3, 0.15, 0.05
    kept = lambda p: top_p_filter(logits, p).isfinite().tolist()  # noqa: E731
    assert kept(0.4) == [False, True, False, False]  # 0.5 alone reaches 0.4
    assert kept(0.75) == [False, True, False, True]  # 0.5 + 0.3
    assert kept(0.85) == [True, True, False, True]  # 0.5 + 0.3 + 0.15
    assert kept(0.99) == [True, True, True, True]
    assert kept(1e-9) == [False, True, False, False]  # the top token always stays
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    assert torch.equal(top_p_filter(logits, 0.75)[[1, 3]], logits[[1, 3]])  # kept logits unchanged


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8, 0.9, 0.97])
def test_top_p_filter_keeps_the_smallest_nucleus(p):
    g = torch.Generator().manual_seed(int(p * 100))
    logits = torch.randn(4, 3, 50, generator=g, dtype=torch.float64) * 2
    out = top_p_filter(logits, p)
    assert out.shape == logits.shape
    probs = logits.softmax(-1)
    keep = out.isfinite()
    for row_probs, row_keep in zip(probs.reshape(-1, 50), keep.reshape(-1, 50)):
        mass = row_probs[row_keep].sum()
        assert mass >= p - 1e-12, "the kept tokens must reach probability p"
        # a prefix of the tokens sorted by probability...
        if not row_keep.all():
            assert row_probs[row_keep].min() >= row_probs[~row_keep].max()
        # ...and the smallest one: without its least likely token the mass is below p
        assert mass - row_probs[row_keep].min() < p or row_keep.sum() == 1
        assert row_keep[row_probs.argmax()]


def test_top_p_filter_rejects_bad_p():
    for p in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="top_p"):
            top_p_filter(torch.zeros(3), p)


# --------------------------------------------------------------------------- KV cache


@pytest.mark.parametrize("t_past,t_new", [(0, 7), (5, 1), (4, 3), (1, 6)])
def test_cached_attention_equals_full_causal_attention(t_past, t_new):
    g = torch.Generator().manual_seed(t_past * 10 + t_new)
    q, k, v = (torch.randn(2, 3, t_past + t_new, 8, generator=g, dtype=torch.float64) for _ in range(3))
    # chapter 4's attention with a causal mask, on the whole sequence
    expected, _ = scaled_dot_product_attention(q, k, v, causal_mask(t_past + t_new))
    cache = (k[:, :, :t_past], v[:, :, :t_past]) if t_past else None
    out, (k_all, v_all) = cached_attention(q[:, :, t_past:], k[:, :, t_past:], v[:, :, t_past:], cache)
    torch.testing.assert_close(out, expected[:, :, t_past:], rtol=1e-10, atol=1e-10)
    assert torch.equal(k_all, k) and torch.equal(v_all, v)  # new keys appended along the sequence axis


def test_cached_attention_errors():
    x = torch.zeros(1, 2, 3, 4)
    with pytest.raises(ValueError, match=r"\(B, H, T_new, D\)"):
        cached_attention(x, x[..., :2], x)
    with pytest.raises(ValueError, match="does not fit"):
        cached_attention(x, x, x, (torch.zeros(1, 2, 3, 5), torch.zeros(1, 2, 3, 5)))


def test_forward_cached_step_by_step_equals_full_forward():
    model = make_gpt(dtype=torch.float64)
    x = ids(2, 20)
    full, _ = model(x)
    logits, caches = model.forward_cached(x[:, :8])
    steps = [logits]
    for t in range(8, 20, 3):  # chunks of 3 new tokens, then the rest
        logits, caches = model.forward_cached(x[:, t:t + 3], caches)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-10, atol=1e-10)
    assert len(caches) == CFG.n_layer and caches[0][0].shape == (2, CFG.n_head, 20, CFG.n_embd // CFG.n_head)
    with pytest.raises(ValueError, match="longer than block_size"):
        model.forward_cached(x[:, :5], caches)
    with pytest.raises(ValueError, match="one cache per layer"):
        model.forward_cached(x[:, :1], caches[:1])


# --------------------------------------------------------------------------- generation


def _greedy_reference(model: GPT, idx: torch.Tensor, n: int) -> torch.Tensor:
    for _ in range(n):
        logits, _ = model(idx[:, -model.config.block_size:])
        idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_generate_greedy_with_and_without_cache(dtype):
    model = make_gpt(dtype=dtype)
    prompt = ids(3, 5)
    # 30 new tokens: the last ones are past block_size = 24, where the window slides
    expected = _greedy_reference(model, prompt, 30)
    assert torch.equal(model.generate(prompt, 30, top_k=1, use_cache=True), expected)
    assert torch.equal(model.generate(prompt, 30, top_k=1, use_cache=False), expected)
    assert torch.equal(model.generate(prompt, 30, temperature=0.0), expected)
    assert torch.equal(model.generate(prompt, 30, top_p=1e-6), expected)


@pytest.mark.parametrize("kwargs", [{}, {"temperature": 0.7}, {"top_k": 5}, {"top_p": 0.8},
                                    {"temperature": 1.3, "top_k": 10, "top_p": 0.9}])
def test_generate_seeded_sampling_same_with_and_without_cache(kwargs):
    model = make_gpt(dtype=torch.float64)
    prompt = ids(2, 4)
    runs = [model.generate(prompt, 40, use_cache=c, generator=torch.Generator().manual_seed(7), **kwargs)
            for c in (True, False, True)]
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])
    other_seed = model.generate(prompt, 40, generator=torch.Generator().manual_seed(8), **kwargs)
    assert not torch.equal(runs[0], other_seed)


def test_generate_sampling_respects_top_k():
    model = make_gpt(dtype=torch.float64)
    prompt = ids(1, 3)
    out = model.generate(prompt.expand(200, 3), 1, top_k=3, generator=torch.Generator().manual_seed(0))
    allowed = set(model(prompt)[0][0, -1].topk(3).indices.tolist())
    assert set(out[:, -1].tolist()) == allowed  # 200 draws: each of the 3 shows up, nothing else


def test_generate_output_and_mode():
    model = make_gpt()
    model.train()
    prompt = ids(2, 6)
    out = model.generate(prompt, 4)
    assert out.shape == (2, 10) and out.dtype == torch.long and torch.equal(out[:, :6], prompt)
    assert model.training, "generate must restore training mode"
    assert torch.equal(model.generate(prompt, 0), prompt)
    # a prompt longer than block_size is cropped to its last block_size tokens
    long_prompt = ids(1, 30)
    out = model.generate(long_prompt, 3, top_k=1)
    assert torch.equal(out[:, :30], long_prompt)
    assert torch.equal(out, _greedy_reference(model.eval(), long_prompt, 3))
