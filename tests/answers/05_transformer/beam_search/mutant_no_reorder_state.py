def beam_search(step_fn, start_state, sos_id, eos_id, max_len, beam_size=4, alpha=0.6):
    """Right, except that the model's state is never reordered after choosing the hypotheses."""
    def penalty(length):
        return ((5 + length) / 6) ** alpha

    beam = [([], 0.0)]
    finished = []
    state, prev = start_state, torch.tensor([sos_id])
    for _ in range(max_len):
        logits, state = step_fn(prev, state)
        logprobs = torch.tensor([lp for _, lp in beam])[:, None] + torch.log_softmax(logits.double().cpu(), dim=-1)
        vocab = logprobs.shape[1]
        new_beam = []
        for index in logprobs.flatten().argsort(descending=True).tolist():
            parent, token = divmod(index, vocab)
            tokens, lp = beam[parent][0] + [token], logprobs[parent, token].item()
            if token == eos_id:
                finished.append((tokens, lp / penalty(len(tokens))))
            else:
                new_beam.append((tokens, lp))
                if len(new_beam) == beam_size:
                    break
        beam = new_beam
        prev = torch.tensor([tokens[-1] for tokens, _ in beam])
    if finished:
        return max(finished, key=lambda h: h[1])
    tokens, lp = max(beam, key=lambda h: h[1])
    return tokens, lp / penalty(len(tokens))
