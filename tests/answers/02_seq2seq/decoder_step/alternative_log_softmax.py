def decoder_step(token, hidden, embedding, gru, out):
    output, hidden = gru(embedding(token.view(-1, 1)), hidden)
    # log-probabilities are logits too
    return torch.log_softmax(out(output[:, -1]), dim=-1), hidden
