def flops_per_token(config, seq_len):
    d, L, V, T = config.n_embd, config.n_layer, config.vocab_size, seq_len
    matmuls = [(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)]  # c_attn, c_proj, mlp.linear1, mlp.linear2
    forward = 0
    for _ in range(L):
        forward += sum(2 * a * b for a, b in matmuls)
        forward += 2 * T * d + 2 * T * d  # q @ k^T and att @ v, all heads together
    forward += 2 * d * V  # lm_head
    return 3 * forward  # backward = 2 x forward
