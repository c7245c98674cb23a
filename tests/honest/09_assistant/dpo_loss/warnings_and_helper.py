import warnings


def _log_ratio(policy, reference):
    return policy - reference


def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
             beta=0.1):
    if beta <= 0:
        warnings.warn("beta should be positive")
    margin = _log_ratio(policy_chosen_logps, reference_chosen_logps) - _log_ratio(policy_rejected_logps,
                                                                                  reference_rejected_logps)
    return F.softplus(-beta * margin).mean()
