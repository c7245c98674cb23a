def distillation_loss(student_logits, teacher_logits, temperature):
    T = temperature
    return T * T * F.kl_div(F.log_softmax(student_logits / T, dim=-1),
                            F.log_softmax(teacher_logits.detach() / T, dim=-1),
                            reduction="batchmean", log_target=True)
