def decoder_step(token, hidden, embedding, gru, out):
    # Mistake: the GRU starts from zeros every step; the encoder's summary is lost.
    output, new_hidden = gru(embedding(token).unsqueeze(1))
    return out(output.squeeze(1)), new_hidden
