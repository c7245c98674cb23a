def distillation_loss(student_logits, teacher_logits, temperature):
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1).mean()
