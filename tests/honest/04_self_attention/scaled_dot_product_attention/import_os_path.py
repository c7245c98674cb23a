import os

VERBOSE = os.environ.get("ATTENTION_VERBOSE", "") == "1"


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = scores.softmax(dim=-1)
    if VERBOSE:
        print(os.path.join(os.getcwd(), "attention"), tuple(weights.shape))
    return weights @ v, weights
