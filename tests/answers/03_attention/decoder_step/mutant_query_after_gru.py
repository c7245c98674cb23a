def attention_decoder_step(decoder, token, hidden, enc_outputs, src_mask):
    # Luong's order: run the GRU first, then attend from the new state
    embedded = decoder.embedding(token)
    old_context, _ = attention_context(decoder.attention(hidden[-1], enc_outputs), enc_outputs, src_mask)
    output, hidden = decoder.rnn(torch.cat([embedded, old_context], dim=-1).unsqueeze(1), hidden)
    context, weights = attention_context(decoder.attention(hidden[-1], enc_outputs), enc_outputs, src_mask)
    logits = decoder.out(torch.cat([output.squeeze(1), context], dim=-1))
    return logits, hidden, weights
