def merge(ids, pair, new_id):
    out = []
    skip = False
    for a, b in zip(ids, list(ids[1:]) + [None]):
        if skip:
            skip = False
            continue
        if (a, b) == tuple(pair):
            out.append(new_id)
            skip = True
        else:
            out.append(a)
    return out
