def encode_chat(tokenizer, prompt, response=None):
    special = tokenizer.special_tokens
    ids = [special[USER]] + tokenizer.encode(prompt) + [special[END], special[ASSISTANT]]
    prompt_length = len(ids)
    if response is not None:
        ids += tokenizer.encode(" " + response) + [special[END]]
    return ids, prompt_length
