def fine_tune_step(model, optimizer, batch, clip_norm=1.0):
    model.train()
    _, loss = model(batch["input_ids"], batch["token_type_ids"], labels=batch["labels"])
    optimizer.zero_grad()
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.item()
