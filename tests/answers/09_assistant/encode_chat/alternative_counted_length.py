def encode_chat(tokenizer, prompt, response=None):
    prompt_tokens = tokenizer.encode(prompt)
    prompt_length = 1 + len(prompt_tokens) + 1  # <|user|>, the prompt, <|assistant|>
    ids = [tokenizer.special_tokens["<|user|>"]] + prompt_tokens + [tokenizer.special_tokens["<|assistant|>"]]
    if response is not None:
        ids = ids + tokenizer.encode(" " + response) + [tokenizer.special_tokens["<|end|>"]]
    return ids, prompt_length
