def beam_search(step_fn, start_state, sos_id, eos_id, max_len, beam_size=4, alpha=0.6):
    """Beam search in which every hypothesis grows only its single best child."""
    def penalty(length):
        return ((5 + length) / 6) ** alpha

    beam = [([], 0.0)]
    finished = []
    state = start_state
    prev = torch.tensor([sos_id])
    for _ in range(max_len):
        logits, state = step_fn(prev, state)
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        best_lp, best_tok = logprobs.max(dim=-1)
        new_beam, parents = [], []
        for parent, ((tokens, lp), tok_lp, tok) in enumerate(zip(beam, best_lp.tolist(), best_tok.tolist())):
            if tok == eos_id:
                finished.append((tokens + [tok], (lp + tok_lp) / penalty(len(tokens) + 1)))
            else:
                new_beam.append((tokens + [tok], lp + tok_lp))
                parents.append(parent)
        if not new_beam:
            break
        beam = new_beam[:beam_size]
        state = reorder_state(state, torch.tensor(parents[:beam_size]))
        prev = torch.tensor([tokens[-1] for tokens, _ in beam])
    if finished:
        return max(finished, key=lambda h: h[1])
    tokens, lp = max(beam, key=lambda h: h[1])
    return tokens, lp / penalty(len(tokens))
