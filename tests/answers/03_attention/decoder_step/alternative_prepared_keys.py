def attention_decoder_step(decoder, token, hidden, enc_outputs, src_mask):
    # the library's two-stage interface: keys projected once, then scored
    keys = decoder.attention.prepare_keys(enc_outputs)
    scores = decoder.attention.score(hidden[-1], keys)
    scores = scores.masked_fill(~src_mask, float("-inf"))
    weights = scores.softmax(-1)
    context = torch.bmm(weights.unsqueeze(1), enc_outputs)          # (B, 1, H)
    x = torch.cat((decoder.embedding(token).unsqueeze(1), context), dim=2)
    output, new_hidden = decoder.rnn(x, hidden)
    logits = decoder.out(torch.cat((output, context), dim=2)).squeeze(1)
    return logits, new_hidden, weights
