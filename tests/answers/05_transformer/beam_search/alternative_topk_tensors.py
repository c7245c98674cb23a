def beam_search(step_fn, start_state, sos_id, eos_id, max_len, beam_size=4, alpha=0.6):
    """Beam search on tensors: the 2k best candidates suffice, since at most k of them end in <eos>."""
    sequences = torch.zeros(1, 0, dtype=torch.long)     # (live, t)
    scores = torch.zeros(1, dtype=torch.float64)        # (live,) log-probabilities
    state, prev = start_state, torch.full((1,), sos_id)
    best_tokens, best_score = None, -float("inf")
    for t in range(1, max_len + 1):
        logits, state = step_fn(prev, state)
        candidates = (scores[:, None] + logits.double().log_softmax(-1)).flatten()
        top_scores, top_index = candidates.topk(min(2 * beam_size, candidates.numel()))
        vocab = logits.shape[-1]
        parents, tokens = top_index // vocab, top_index % vocab
        keep = []
        for k in range(len(top_index)):
            if tokens[k] == eos_id:
                score = top_scores[k].item() / ((5 + t) / 6) ** alpha
                if score > best_score:
                    best_tokens = sequences[parents[k]].tolist() + [eos_id]
                    best_score = score
            else:
                keep.append(k)
                if len(keep) == beam_size:
                    break
        keep = torch.tensor(keep)
        sequences = torch.cat([sequences[parents[keep]], tokens[keep, None]], dim=1)
        scores = top_scores[keep]
        state = reorder_state(state, parents[keep])
        prev = tokens[keep]
    if best_tokens is not None:
        return best_tokens, best_score
    i = int(scores.argmax())
    return sequences[i].tolist(), scores[i].item() / ((5 + max_len) / 6) ** alpha
