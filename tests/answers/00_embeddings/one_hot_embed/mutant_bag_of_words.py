def one_hot_embed(ids, weight):
    # Mistake: adds the one-hot vectors of all words into one (a bag of words), losing which word is where.
    one_hot = F.one_hot(ids, weight.shape[0]).to(weight.dtype)
    return (one_hot.sum(0, keepdim=True) @ weight).expand(*ids.shape, weight.shape[1])
