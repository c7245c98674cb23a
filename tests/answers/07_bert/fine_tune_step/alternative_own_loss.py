def fine_tune_step(model, optimizer, batch, clip_norm=1.0):
    # the logits only, and the cross-entropy computed here
    model.train()
    logits = model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                   attention_mask=batch["attention_mask"])
    loss = F.cross_entropy(logits, batch["labels"])
    for p in model.parameters():
        p.grad = None
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss.item()
