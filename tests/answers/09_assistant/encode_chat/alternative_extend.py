def encode_chat(tokenizer, prompt, response=None):
    special = tokenizer.special_tokens
    ids = [special[USER]]
    ids.extend(tokenizer.encode(prompt))
    ids.append(special[ASSISTANT])
    prompt_length = len(ids)
    if response is not None:
        ids.extend(tokenizer.encode(" " + response))
        ids.append(special[END])
    return ids, prompt_length
