"""course_lib.sft and course_lib.data.instructions: the chat template, response-only labels and loss
(against HuggingFace transformers' causal-LM loss), new embedding rows, batched generation, evaluation."""
import re

import pytest
import torch

from course_lib.data.instructions import (
    ANSWER_FORMS,
    HELD_OUT_TEMPLATES,
    PREFERENCE_TEMPLATES,
    TASKS,
    TEMPLATES,
    TRAINING_TEMPLATES,
    Instruction,
    generate_instructions,
    instruction_splits,
)
from course_lib.data.tokenizers import BPETokenizer
from course_lib.gpt import GPT, GPTConfig
from course_lib.sft import (
    ASSISTANT,
    END,
    USER,
    add_chat_tokens,
    chat_batch,
    encode_chat,
    evaluate,
    exact_match,
    extend_vocabulary,
    failure_kind,
    generate_answers,
    response_labels,
    sft_loss,
)


@pytest.fixture(scope="module")
def tokenizer():
    text = " ".join(x.prompt + " " + x.answer for x in generate_instructions(300, seed=5))
    return add_chat_tokens(BPETokenizer.train(text, vocab_size=400))


def tiny_gpt(vocab_size: int, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=128, n_layer=2, n_head=2, n_embd=16)).eval()


# --------------------------------------------------------------------------- data


def test_splits_share_no_story_and_keep_each_wording_to_its_splits():
    splits = instruction_splits(n_train=600, n_val=60, n_test=100, n_unseen=50, n_preference=80, n_preference_test=40,
                                seed=3)
    stories = {name: {x.prompt.rsplit("\n", 1)[0] for x in xs} for name, xs in splits.items()}
    names = list(stories)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not stories[a] & stories[b], f"{a} and {b} share a story"
    training = {t for ts in TRAINING_TEMPLATES.values() for t in ts}
    for name in ("train", "val", "test"):
        assert {x.template for x in splits[name]} == training and {x.wording for x in splits[name]} == {"training"}
    assert {x.template for x in splits["unseen"]} == set(HELD_OUT_TEMPLATES.values())
    for name in ("preference", "preference_test"):
        assert {x.template for x in splits[name]} == set(PREFERENCE_TEMPLATES.values())
    assert not training & (set(HELD_OUT_TEMPLATES.values()) | set(PREFERENCE_TEMPLATES.values()))
    assert {x.task for x in splits["train"]} == set(TASKS)
    assert instruction_splits(n_train=600, n_val=60, n_test=100, n_unseen=50, n_preference=80, n_preference_test=40,
                              seed=3) == splits  # deterministic


def test_every_answer_has_its_form_and_is_right():
    for x in generate_instructions(400, seed=1) + generate_instructions(100, seed=2, wording="held-out"):
        match = re.fullmatch(ANSWER_FORMS[x.task], x.answer)
        assert match, (x.task, x.answer)
        story = x.prompt.rsplit("\n", 1)[0]
        if x.task == "who":
            # the story says exactly who found this object
            assert f"was found by {match['name']}" in story and match["obj"] in story
        elif x.task == "where":
            assert f"{match['name']} went to {match['place']}" in story
        elif x.task == "count":
            have, more = map(int, re.search(r"had (\d) .*gave \w+ (\d) more", story).groups())
            assert int(match["number"]) == have + more
        elif x.task == "first":
            first = re.search(r"(\w+) went to bed before|went to bed after (\w+)", story)
            assert match["name"] == (first[1] or first[2])
        assert any(t.split("{")[0] in x.prompt for t in TEMPLATES[x.task])


# --------------------------------------------------------------------------- template and labels


def test_chat_tokens_are_special_and_cannot_be_typed(tokenizer):
    specials = tokenizer.special_tokens
    assert [specials[t] for t in (USER, ASSISTANT, END)] == list(range(tokenizer.vocab_size - 3, tokenizer.vocab_size))
    assert add_chat_tokens(tokenizer) == tokenizer  # adding them twice changes nothing
    ids, n = encode_chat(tokenizer, "say <|assistant|> now", "ok")
    assert ids.count(specials[ASSISTANT]) == 1 and ids[n - 1] == specials[ASSISTANT]
    assert tokenizer.decode(ids) == "<|user|>say <|assistant|> now<|assistant|> ok<|end|>"
    prompt_ids, m = encode_chat(tokenizer, "say <|assistant|> now")
    assert prompt_ids == ids[:n] and m == n
    with pytest.raises(ValueError, match="add_chat_tokens"):
        encode_chat(BPETokenizer([], ()), "hi")


def test_response_labels_keep_exactly_the_response(tokenizer):
    examples = generate_instructions(12, seed=4)
    ids, labels = chat_batch(tokenizer, examples)
    for row, x in enumerate(examples):
        full, n = encode_chat(tokenizer, x.prompt, x.answer)
        kept = [int(t) for t in labels[row] if t != -100]
        assert kept == full[n:]  # the answer's tokens and <|end|>, nothing else
        assert tokenizer.decode(kept) == " " + x.answer + END
    # all-token variant: every real token after the first, padding never
    _, every = chat_batch(tokenizer, examples, response_only=False)
    lengths = torch.tensor([len(encode_chat(tokenizer, x.prompt, x.answer)[0]) for x in examples])
    assert torch.equal((every != -100).sum(1), lengths - 1)
    assert torch.equal(response_labels(ids, torch.zeros(len(examples), dtype=torch.long), lengths)[:, 1:],
                       every[:, 1:])


def test_sft_loss_equals_transformers_causal_lm_loss(tokenizer):
    from transformers.loss import loss_utils  # installed by `make test` (the hf extra); fail, not skip, without it
    examples = generate_instructions(10, seed=6)
    ids, labels = chat_batch(tokenizer, examples)
    logits = torch.randn(*ids.shape, tokenizer.vocab_size, generator=torch.Generator().manual_seed(0))
    theirs = loss_utils.ForCausalLMLoss(logits, labels, vocab_size=tokenizer.vocab_size)
    assert torch.allclose(sft_loss(logits, labels), theirs, atol=1e-6)


# --------------------------------------------------------------------------- new rows


def test_extend_vocabulary_keeps_the_old_model_and_starts_new_rows_at_the_mean():
    old = tiny_gpt(50)
    new = extend_vocabulary(old, 53)
    assert new.lm_head.weight is new.tok_emb.weight  # still tied
    assert torch.equal(new.tok_emb.weight[:50], old.tok_emb.weight)
    assert torch.allclose(new.tok_emb.weight[50:], old.tok_emb.weight.mean(0).expand(3, -1))
    x = torch.randint(50, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = old(x)[0], new(x)[0]
    assert torch.allclose(a, b[..., :50], atol=1e-6)  # the old tokens' logits are unchanged
    # a mean row's logit is the mean of the old logits
    assert torch.allclose(b[..., 50], a.mean(-1), atol=1e-5)
    random = extend_vocabulary(old, 53, init="random", generator=torch.Generator().manual_seed(0))
    assert random.tok_emb.weight[50:].std() < 0.05 and not torch.allclose(random.tok_emb.weight[50], random.tok_emb.weight[51])
    with pytest.raises(ValueError):
        extend_vocabulary(old, 40)
    from course_lib.lora import apply_lora
    with pytest.raises(ValueError, match="do not fit a plain GPT"):  # LoRA layers would be dropped silently
        extend_vocabulary(apply_lora(extend_vocabulary(old, 50), ("c_attn",)), 53)


# --------------------------------------------------------------------------- answering and scoring


def test_batched_greedy_answers_equal_one_at_a_time(tokenizer):
    model = tiny_gpt(tokenizer.vocab_size, seed=2)
    end = tokenizer.special_tokens[END]
    with torch.no_grad():  # make <|end|> likely after a few tokens, so stopping is exercised
        model.lm_head.weight[end] *= 0
    prompts = [x.prompt for x in generate_instructions(15, seed=7)]
    batched = generate_answers(model, tokenizer, prompts, max_new_tokens=6)
    for prompt, answer in zip(prompts, batched):
        ids = torch.tensor([encode_chat(tokenizer, prompt)[0]])
        out = model.generate(ids, 6, temperature=0)[0, ids.shape[1]:].tolist()
        out = out[:out.index(end)] if end in out else out
        assert answer == tokenizer.decode([t for t in out if t < len(tokenizer.vocab)]).strip()


def test_exact_match_and_failure_kinds():
    x = Instruction("where", "", "Kate went to the zoo and Ben went to the park.\nWhere did Kate go?",
                    "Kate went to the zoo.")
    assert exact_match(["Kate went to the zoo. ", "Kate went to the park."], [x.answer] * 2) == 0.5
    assert failure_kind(x, " Kate went to the zoo.") == "right"
    assert failure_kind(x, "Kate went to the park.") == "wrong place, from the story"
    assert failure_kind(x, "Kate went to the moon.") == "place not in the story"
    assert failure_kind(x, "Kate went to the zoo") == "wrong form"
    assert failure_kind(x, "") == "empty answer"
    c = Instruction("count", "", "Kate had 2 shells, and Ben gave her 3 more.\nHow many shells does Kate have now?",
                    "Kate has 5 shells now.")
    assert failure_kind(c, "Kate has 6 shells now.") == "number off by one"
    assert failure_kind(c, "Kate has 9 shells now.") == "wrong number"
    d = Instruction("date", "", "Write 3 May 1999 as an ISO date.", "1999-05-03")
    assert failure_kind(d, "1999-03-05") == "ISO date, wrong month and day"
    with pytest.raises(ValueError):
        exact_match([], [])


def test_evaluate_scores_each_task(tokenizer):
    model = tiny_gpt(tokenizer.vocab_size)
    examples = generate_instructions(10, seed=8)
    result = evaluate(model, tokenizer, examples, max_new_tokens=3)
    assert set(result["scores"]) == set(TASKS) | {"all"} and len(result["predictions"]) == 10
    assert result["scores"]["all"] == 0.0  # an untrained model answers nothing exactly
