def ngrams(tokens, n):
    return Counter(zip(*(tokens[i:] for i in range(n))))

def corpus_bleu(hypotheses, references, max_n=4):
    log_sum = 0.0
    for n in range(1, max_n + 1):
        matched = total = 0
        for hyp, ref in zip(hypotheses, references):
            h = ngrams(hyp, n)
            matched += sum((h & ngrams(ref, n)).values())    # & keeps the minimum count: clipping
            total += sum(h.values())
        if matched == 0:
            return 0.0
        log_sum += math.log(matched / total)
    hyp_len = sum(map(len, hypotheses))
    ref_len = sum(map(len, references))
    bp = min(1.0, math.exp(1 - ref_len / hyp_len))
    return bp * math.exp(log_sum / max_n)
