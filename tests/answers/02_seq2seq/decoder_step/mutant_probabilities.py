def decoder_step(token, hidden, embedding, gru, out):
    output, hidden = gru(embedding(token).unsqueeze(1), hidden)
    # Mistake: probabilities, not logits.
    return torch.softmax(out(output.squeeze(1)), dim=-1), hidden
