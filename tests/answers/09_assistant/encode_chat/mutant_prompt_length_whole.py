def encode_chat(tokenizer, prompt, response=None):
    special = tokenizer.special_tokens
    ids = [special[USER]] + tokenizer.encode(prompt) + [special[ASSISTANT]]
    if response is not None:
        ids += tokenizer.encode(" " + response) + [special[END]]
    return ids, len(ids)
