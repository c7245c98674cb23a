def attention_decoder_step(decoder, token, hidden, enc_outputs, src_mask):
    query = hidden[-1]
    context, weights = attention_context(decoder.attention(query, enc_outputs), enc_outputs, src_mask)
    embedded = decoder.embedding(token)
    _, new_hidden = decoder.rnn(torch.cat([embedded, context], dim=-1).unsqueeze(1), hidden)
    logits = decoder.out(torch.cat([hidden[-1], context], dim=-1))
    return logits, new_hidden, weights
