def one_hot_embed(ids, weight):
    # Mistake: F.one_hot returns integers, and an integer matrix cannot multiply a float one.
    return F.one_hot(ids, weight.shape[0]) @ weight
