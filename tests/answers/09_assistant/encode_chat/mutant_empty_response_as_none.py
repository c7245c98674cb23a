def encode_chat(tokenizer, prompt, response=None):
    # Mistake: `if response:` treats the empty response "" as no response at all.
    special = tokenizer.special_tokens
    ids = [special[USER]] + tokenizer.encode(prompt) + [special[ASSISTANT]]
    prompt_length = len(ids)
    if response:
        ids += tokenizer.encode(" " + response) + [special[END]]
    return ids, prompt_length
