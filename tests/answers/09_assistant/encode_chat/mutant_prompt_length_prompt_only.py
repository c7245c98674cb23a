def encode_chat(tokenizer, prompt, response=None):
    special = tokenizer.special_tokens
    prompt_ids = tokenizer.encode(prompt)
    ids = [special[USER]] + prompt_ids + [special[ASSISTANT]]
    if response is not None:
        ids += tokenizer.encode(" " + response) + [special[END]]
    return ids, len(prompt_ids)
