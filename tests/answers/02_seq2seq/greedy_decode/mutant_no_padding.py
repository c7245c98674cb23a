@torch.no_grad()
def greedy_decode(step_fn, start_state, sos_id, eos_id, max_len, batch_size, pad_id=PAD_ID, device=None):
    prev = torch.full((batch_size,), sos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    state, outputs = start_state, []
    for _ in range(max_len):
        logits, state = step_fn(prev, state)
        prev = logits.argmax(dim=-1)
        # Mistake: finished rows keep writing tokens after their <eos>.
        outputs.append(prev)
        finished = finished | (prev == eos_id)
        if finished.all():
            break
    return torch.stack(outputs, dim=1)
