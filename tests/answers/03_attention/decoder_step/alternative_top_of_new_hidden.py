def attention_decoder_step(decoder, token, hidden, enc_outputs, src_mask):
    context, weights = attention_context(decoder.attention(hidden[-1], enc_outputs), enc_outputs, src_mask)
    embedded = decoder.embedding(token)
    _, new_hidden = decoder.rnn(torch.cat([embedded, context], -1)[:, None], hidden)
    # the GRU's output at the single step is the top layer of its new hidden state
    logits = decoder.out(torch.cat([new_hidden[-1], context], -1))
    return logits, new_hidden, weights
