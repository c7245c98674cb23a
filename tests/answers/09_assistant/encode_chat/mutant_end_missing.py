def encode_chat(tokenizer, prompt, response=None):
    special = tokenizer.special_tokens
    ids = [special[USER]] + tokenizer.encode(prompt) + [special[ASSISTANT]]
    prompt_length = len(ids)
    if response is not None:
        ids += tokenizer.encode(" " + response)
    return ids, prompt_length
