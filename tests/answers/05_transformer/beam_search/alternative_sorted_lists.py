def beam_search(step_fn, start_state, sos_id, eos_id, max_len, beam_size=4, alpha=0.6):
    """Beam search with plain Python lists, sorted() and float32 log-probabilities."""
    live = [(0.0, [])]                      # (log-probability, tokens)
    done = []                               # (score, tokens)
    state, last = start_state, [sos_id]
    for _ in range(max_len):
        logits, state = step_fn(torch.tensor(last), state)
        table = F.log_softmax(logits.float(), dim=-1).tolist()          # float32 is enough to rank
        candidates = sorted(((lp + tok_lp, parent, tok)
                             for parent, (lp, _) in enumerate(live)
                             for tok, tok_lp in enumerate(table[parent])), reverse=True)
        next_live, parents = [], []
        for total, parent, tok in candidates:
            seq = live[parent][1] + [tok]
            if tok == eos_id:
                done.append((total / gnmt_length_penalty(len(seq), alpha), seq))
            else:
                next_live.append((total, seq))
                parents.append(parent)
            if len(next_live) == beam_size:
                break
        if not next_live:
            break
        live = next_live
        state = reorder_state(state, torch.tensor(parents))
        last = [seq[-1] for _, seq in live]
    if done:
        score, seq = max(done)
        return seq, score
    lp, seq = max(live)
    return seq, lp / gnmt_length_penalty(len(seq), alpha)
