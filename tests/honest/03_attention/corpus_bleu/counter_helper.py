def _ngrams(tokens, n):
    return Counter(zip(*(tokens[i:] for i in range(n))))


def corpus_bleu(hypotheses, references, max_n=4):
    matched, total = [0] * max_n, [0] * max_n
    for hyp, ref in zip(hypotheses, references):
        for n in range(1, max_n + 1):
            h, r = _ngrams(hyp, n), _ngrams(ref, n)
            matched[n - 1] += sum((h & r).values())  # clipped counts
            total[n - 1] += sum(h.values())
    if 0 in matched:
        return 0.0
    hyp_len, ref_len = sum(map(len, hypotheses)), sum(map(len, references))
    penalty = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)
    return penalty * math.exp(sum(math.log(m / t) for m, t in zip(matched, total)) / max_n)
