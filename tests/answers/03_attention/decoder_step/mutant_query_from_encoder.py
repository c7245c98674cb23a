def attention_decoder_step(decoder, token, hidden, enc_outputs, src_mask):
    query = enc_outputs[:, -1]        # the encoder's last position instead of the decoder state
    context, weights = attention_context(decoder.attention(query, enc_outputs), enc_outputs, src_mask)
    embedded = decoder.embedding(token)
    output, hidden = decoder.rnn(torch.cat([embedded, context], dim=-1).unsqueeze(1), hidden)
    logits = decoder.out(torch.cat([output.squeeze(1), context], dim=-1))
    return logits, hidden, weights
