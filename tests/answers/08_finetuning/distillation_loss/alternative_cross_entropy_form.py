def distillation_loss(student_logits, teacher_logits, temperature):
    # KL(p || q) = cross-entropy(p, q) - entropy(p)
    p_teacher = torch.softmax(teacher_logits.detach() / temperature, dim=-1)
    cross = -(p_teacher * torch.log_softmax(student_logits / temperature, dim=-1)).sum(-1)
    entropy = -(p_teacher * torch.log_softmax(teacher_logits.detach() / temperature, dim=-1)).sum(-1)
    return temperature ** 2 * (cross - entropy).mean()
