def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
             beta=0.1):
    # the paper's code: how much more the policy prefers chosen over rejected than the reference does
    pi_logratios = policy_chosen_logps - policy_rejected_logps
    ref_logratios = reference_chosen_logps - reference_rejected_logps
    logits = pi_logratios - ref_logratios
    losses = -torch.nn.functional.logsigmoid(beta * logits)
    return losses.sum() / len(losses)
