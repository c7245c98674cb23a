@torch.no_grad()
def greedy_decode(step_fn, start_state, sos_id, eos_id, max_len, batch_size, pad_id=PAD_ID, device=None):
    sos = torch.full((batch_size,), sos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    state, outputs = start_state, []
    for _ in range(max_len):
        # Mistake: feeds <sos> at every step instead of the previous prediction.
        logits, state = step_fn(sos, state)
        token = logits.argmax(dim=-1).masked_fill(finished, pad_id)
        outputs.append(token)
        finished = finished | (token == eos_id)
        if finished.all():
            break
    return torch.stack(outputs, dim=1)
