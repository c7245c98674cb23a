@torch.no_grad()
def greedy_decode(step_fn, start_state, sos_id, eos_id, max_len, batch_size, pad_id=PAD_ID, device=None):
    prev = torch.full((batch_size,), sos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    outputs = []
    for _ in range(max_len):
        # Mistake: the new state is thrown away; every step starts from the encoder's summary.
        logits, _ = step_fn(prev, start_state)
        token = logits.argmax(dim=-1).masked_fill(finished, pad_id)
        outputs.append(token)
        finished = finished | (token == eos_id)
        if finished.all():
            break
        prev = token
    return torch.stack(outputs, dim=1)
