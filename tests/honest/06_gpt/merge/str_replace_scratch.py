def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if tuple(ids[i:i + 2]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


# scratch: the same idea on text
print("aaab".replace("aa", "Z"), merge([1, 1, 1], (1, 1), 9))
