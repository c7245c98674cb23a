from course_lib.attention import causal_mask, padding_mask


def attention_mask(lengths, seq_len, causal=False):
    mask = padding_mask(lengths, seq_len).repeat(1, 1, seq_len, 1)
    return mask & causal_mask(seq_len) if causal else mask
