@torch.no_grad()
def greedy_decode(step_fn, start_state, sos_id, eos_id, max_len, batch_size, pad_id=PAD_ID, device=None):
    rows = [[] for _ in range(batch_size)]
    done = [False] * batch_size
    prev = torch.tensor([sos_id] * batch_size, device=device)
    state = start_state
    steps = 0
    while steps < max_len and not all(done):
        logits, state = step_fn(prev, state)
        best = logits.argmax(-1)
        for b in range(batch_size):
            if done[b]:
                rows[b].append(pad_id)
            else:
                rows[b].append(int(best[b]))
                done[b] = int(best[b]) == eos_id
        prev = best
        steps += 1
    return torch.tensor(rows, dtype=torch.long, device=device).view(batch_size, steps)
