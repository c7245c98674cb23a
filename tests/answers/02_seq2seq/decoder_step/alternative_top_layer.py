def decoder_step(token, hidden, embedding, gru, out):
    x = embedding(token)[:, None, :]
    _, new_hidden = gru(x, hidden)
    return out(new_hidden[-1]), new_hidden
