def encode_chat(tokenizer, prompt, response=None):
    # Mistake: strip() removes the prompt's trailing newline, which is part of what the user wrote.
    special = tokenizer.special_tokens
    ids = [special[USER]] + tokenizer.encode(prompt.strip()) + [special[ASSISTANT]]
    prompt_length = len(ids)
    if response is not None:
        ids += tokenizer.encode(" " + response) + [special[END]]
    return ids, prompt_length
