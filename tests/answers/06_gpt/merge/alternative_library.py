def merge(ids, pair, new_id):
    return tokenizers.merge(ids, pair, new_id)
