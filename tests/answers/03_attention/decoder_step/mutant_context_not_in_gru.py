def attention_decoder_step(decoder, token, hidden, enc_outputs, src_mask):
    query = hidden[-1]
    context, weights = attention_context(decoder.attention(query, enc_outputs), enc_outputs, src_mask)
    embedded = decoder.embedding(token)
    # the GRU gets zeros where the context should be
    gru_input = torch.cat([embedded, torch.zeros_like(context)], dim=-1).unsqueeze(1)
    output, hidden = decoder.rnn(gru_input, hidden)
    logits = decoder.out(torch.cat([output.squeeze(1), context], dim=-1))
    return logits, hidden, weights
