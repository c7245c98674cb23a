def corpus_bleu(hypotheses, references, max_n=4):
    import numpy as np
    precisions = []
    for n in range(1, max_n + 1):
        num = den = 0
        for hyp, ref in zip(hypotheses, references):
            ref_counts = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            seen = Counter()
            for i in range(len(hyp) - n + 1):
                gram = tuple(hyp[i:i + n])
                seen[gram] += 1
                num += seen[gram] <= ref_counts[gram]
                den += 1
        precisions.append(num / den if den else 0.0)
    if min(precisions) == 0:
        return 0.0
    c, r = sum(len(h) for h in hypotheses), sum(len(x) for x in references)
    bp = 1.0 if c > r else float(np.exp(1 - r / c))
    return bp * float(np.prod(precisions)) ** (1 / max_n)
