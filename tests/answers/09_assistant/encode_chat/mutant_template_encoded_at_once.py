def encode_chat(tokenizer, prompt, response=None):
    text = f"{USER}{prompt}{ASSISTANT}"
    prompt_length = len(tokenizer.encode(text))
    if response is not None:
        text += f" {response}{END}"
    return tokenizer.encode(text), prompt_length
