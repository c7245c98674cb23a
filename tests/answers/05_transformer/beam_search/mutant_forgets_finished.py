def beam_search(step_fn, start_state, sos_id, eos_id, max_len, beam_size=4, alpha=0.6):
    """Beam search that drops a hypothesis as soon as it produces <eos>."""
    def penalty(length):
        return ((5 + length) / 6) ** alpha

    beam = [([], 0.0)]
    state = start_state
    prev = torch.tensor([sos_id])
    for _ in range(max_len):
        logits, state = step_fn(prev, state)
        logprobs = torch.tensor([lp for _, lp in beam])[:, None] + torch.log_softmax(logits.double(), dim=-1)
        vocab = logprobs.shape[1]
        new_beam, parents = [], []
        for index in logprobs.flatten().argsort(descending=True).tolist():
            parent, token = divmod(index, vocab)
            if token == eos_id:
                continue
            new_beam.append((beam[parent][0] + [token], logprobs[parent, token].item()))
            parents.append(parent)
            if len(new_beam) == beam_size:
                break
        beam = new_beam
        state = reorder_state(state, torch.tensor(parents))
        prev = torch.tensor([tokens[-1] for tokens, _ in beam])
    tokens, lp = max(beam, key=lambda h: h[1])
    return tokens, lp / penalty(len(tokens))
