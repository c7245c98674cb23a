def one_hot_embed(ids, weight):
    # Mistake: squeeze() drops every axis of size 1, so a single id (shape (1,)) loses its row axis.
    one_hot = F.one_hot(ids, weight.shape[0]).to(weight.dtype)
    return (one_hot @ weight).squeeze()
