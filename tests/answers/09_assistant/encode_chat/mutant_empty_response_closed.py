def encode_chat(tokenizer, prompt, response=None):
    special = tokenizer.special_tokens
    ids = [special[USER]] + tokenizer.encode(prompt) + [special[ASSISTANT]]
    prompt_length = len(ids)
    ids += tokenizer.encode(" " + (response or "")) + [special[END]]
    return ids, prompt_length
