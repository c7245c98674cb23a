def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
             beta=0.1):
    # Mistake: clamping the sigmoid keeps the log finite, but caps every pair's loss at -log(1e-7) = 16.
    margin = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -torch.log(torch.sigmoid(beta * margin).clamp(min=1e-7)).mean()
