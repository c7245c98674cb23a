def decoder_step(token, hidden, embedding, gru, out):
    _, hidden = gru(embedding(token).unsqueeze(1), hidden)
    # Mistake: hidden[0] is the BOTTOM layer; the output layer reads the top one.
    return out(hidden[0]), hidden
