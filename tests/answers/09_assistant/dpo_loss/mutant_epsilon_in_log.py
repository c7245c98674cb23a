def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
             beta=0.1):
    # Mistake: an epsilon keeps log(sigmoid(x)) finite, but caps every pair's loss at -log(1e-10) = 23.
    margin = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -torch.log(torch.sigmoid(beta * margin) + 1e-10).mean()
