def merge(ids, pair, new_id):
    rest = list(ids)
    out = []
    while rest:
        first = rest.pop(0)
        if rest and (first, rest[0]) == tuple(pair):
            rest.pop(0)
            out.append(new_id)
        else:
            out.append(first)
    return out
