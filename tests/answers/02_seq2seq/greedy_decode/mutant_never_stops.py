@torch.no_grad()
def greedy_decode(step_fn, start_state, sos_id, eos_id, max_len, batch_size, pad_id=PAD_ID, device=None):
    prev = torch.full((batch_size,), sos_id, dtype=torch.long, device=device)
    state, outputs = start_state, []
    # Mistake: always runs max_len steps and never pads after <eos>.
    for _ in range(max_len):
        logits, state = step_fn(prev, state)
        prev = logits.argmax(dim=-1)
        outputs.append(prev)
    return torch.stack(outputs, dim=1)
