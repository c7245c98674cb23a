def fine_tune_step(model, optimizer, batch, clip_norm=1.0):
    model.train(True)
    optimizer.zero_grad(set_to_none=False)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits, loss = model(**inputs, labels=batch["labels"])
    loss.backward()
    if clip_norm:
        trainable = [p for p in model.parameters() if p.requires_grad]
        nn.utils.clip_grad_norm_(trainable, max_norm=clip_norm)
    optimizer.step()
    return float(loss.detach())
