def encode_chat(tokenizer, prompt, response=None):
    ids = tokenizer.encode("<|user|>") + tokenizer.encode(prompt) + tokenizer.encode("<|assistant|>")
    prompt_length = len(ids)
    if response is not None:
        ids += tokenizer.encode(" " + response) + tokenizer.encode("<|end|>")
    return ids, prompt_length
