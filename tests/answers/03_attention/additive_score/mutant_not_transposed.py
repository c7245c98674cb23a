def additive_score(query, keys, W_q, W_k, v):
    # forgets that nn.Linear weights are (out, in); crashes unless the sizes happen to be square
    hidden = torch.tanh((query @ W_q).unsqueeze(1) + keys @ W_k)
    return hidden @ v
