def distillation_loss(student_logits, teacher_logits, temperature):
    T = temperature
    log_teacher = F.log_softmax(teacher_logits.detach() / T, dim=-1)
    log_student = F.log_softmax(student_logits / T, dim=-1)
    loss = T * T * F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    print(f"distillation loss {float(loss):.4f}")  # torch warns when loss needs grad
    return loss
