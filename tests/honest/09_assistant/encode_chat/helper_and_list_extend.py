def _pieces_to_ids(tokenizer, *pieces):
    ids = []
    for piece in pieces:
        if piece in (USER, ASSISTANT, END):
            ids.append(tokenizer.special_tokens[piece])
        else:
            ids.extend(tokenizer.encode(piece))
    return ids


def encode_chat(tokenizer, prompt, response=None):
    ids = [tokenizer.special_tokens[USER]] + tokenizer.encode(prompt) + [tokenizer.special_tokens[ASSISTANT]]
    prompt_length = len(ids)
    if response is not None:
        ids += _pieces_to_ids(tokenizer, " " + response, END)
    return ids, prompt_length
