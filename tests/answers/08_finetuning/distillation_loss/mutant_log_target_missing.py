def distillation_loss(student_logits, teacher_logits, temperature):
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    # log-probabilities as the target without log_target=True
    return temperature ** 2 * F.kl_div(log_p_student, log_p_teacher, reduction="batchmean")
