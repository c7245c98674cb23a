def distillation_loss(student_logits, teacher_logits, temperature):
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    p_teacher = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    return temperature**2 * F.kl_div(log_p_student, p_teacher, reduction="mean")
