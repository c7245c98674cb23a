def distillation_loss(student_logits, teacher_logits, temperature):
    # cross-entropy with the soft targets: the right gradient, but not the KL divergence's value
    p_teacher = F.softmax(teacher_logits / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    return temperature ** 2 * -(p_teacher * log_p_student).sum(-1).mean()
