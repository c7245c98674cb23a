def decoder_step(token, hidden, embedding, gru, out):
    output, _ = gru(embedding(token).unsqueeze(1), hidden)
    # Mistake: the state never moves on.
    return out(output.squeeze(1)), hidden
