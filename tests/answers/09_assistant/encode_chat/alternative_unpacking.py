def encode_chat(tokenizer, prompt, response=None):
    user, assistant, end = (tokenizer.special_tokens[t] for t in (USER, ASSISTANT, END))
    prompt_ids = [user, *tokenizer.encode(prompt), assistant]
    if response is None:
        return prompt_ids, len(prompt_ids)
    return [*prompt_ids, *tokenizer.encode(f" {response}"), end], len(prompt_ids)
