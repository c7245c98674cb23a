def attention_decoder_step(decoder, token, hidden, enc_outputs, src_mask):
    query = hidden[-1]
    scores = decoder.attention(query, enc_outputs)
    weights = torch.softmax(scores, dim=-1)          # padding not masked
    context = (weights.unsqueeze(-1) * enc_outputs).sum(1)
    embedded = decoder.embedding(token)
    output, hidden = decoder.rnn(torch.cat([embedded, context], dim=-1).unsqueeze(1), hidden)
    logits = decoder.out(torch.cat([output.squeeze(1), context], dim=-1))
    return logits, hidden, weights
