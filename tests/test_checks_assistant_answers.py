"""Chapter 09's answer files against its visible checks (the shared tests of tests/answer_checks.py):
the references pass, every alternative in tests/answers/09_assistant passes, every wrong answer
fails with a message, and the listed ones with the hint meant for them."""
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib import checks, dpo, sft

ANSWERS = Path(__file__).resolve().parent / "answers" / "09_assistant"
CHECKS = {  # answer cell -> (function name, its check)
    "encode_chat": ("encode_chat", checks.check_encode_chat),
    "response_labels": ("response_labels", checks.check_response_labels),
    "response_log_probs": ("response_log_probs", checks.check_response_log_probs),
    "dpo_loss": ("dpo_loss", checks.check_dpo_loss),
}
# what the notebook has imported by the time the learner writes an answer (the markers from course_lib.sft)
NAMESPACE = dict(torch=torch, F=F, USER=sft.USER, ASSISTANT=sft.ASSISTANT, END=sft.END)
REFERENCES = {"encode_chat": sft.encode_chat, "response_labels": sft.response_labels,
              "response_log_probs": dpo.response_log_probs, "dpo_loss": dpo.dpo_loss}
HINTS = [
    ("encode_chat/mutant_markers_as_text.py", "the markers were encoded as text"),
    ("encode_chat/mutant_template_encoded_at_once.py", "the markers were encoded as text"),
    ("encode_chat/mutant_no_space.py", "without the space before it"),
    ("encode_chat/mutant_end_missing.py", "<|end|> is missing"),
    ("encode_chat/mutant_prompt_closed_with_end.py", "the prompt is closed with <|end|>"),
    ("encode_chat/mutant_prompt_length_without_assistant.py", "prompt_length leaves out <|assistant|>"),
    ("encode_chat/mutant_prompt_length_prompt_only.py", "counts the prompt's own tokens only"),
    ("encode_chat/mutant_prompt_length_whole.py", "the length of the whole sequence"),
    ("encode_chat/mutant_empty_response_closed.py", "without a response, return only the prompt part"),
    ("encode_chat/mutant_empty_response_as_none.py", "an empty response is still a response"),
    ("encode_chat/mutant_prompt_stripped.py", "the prompt's trailing newline was removed"),
    ("response_labels/mutant_prompt_not_masked.py", "the prompt is not masked"),
    ("response_labels/mutant_first_response_token_masked.py", "the response's first token"),
    ("response_labels/mutant_assistant_kept.py", "the last prompt token (<|assistant|>"),
    ("response_labels/mutant_padding_not_masked.py", "the padding is not masked"),
    ("response_labels/mutant_end_inclusive.py", "off by one at the end"),
    ("response_labels/mutant_zero_fill.py", "masked positions hold 0"),
    ("response_labels/mutant_in_place.py", "changed its inputs in place"),
    ("response_labels/mutant_shifted_labels.py", "the labels are shifted"),
    ("response_labels/mutant_float_labels.py", "torch.long"),
    ("response_labels/mutant_inverted.py", "the mask is inverted"),
    ("response_labels/mutant_squeezed.py", "squeeze() drops EVERY axis of size 1"),
    ("response_log_probs/mutant_not_shifted.py", "not shifted"),
    ("response_log_probs/mutant_shifted_wrong_way.py", "shifted the wrong way"),
    ("response_log_probs/mutant_mean_over_tokens.py", "SUM them"),
    ("response_log_probs/mutant_mask_forgotten.py", "the positions labelled -100 are summed too"),
    ("response_log_probs/mutant_gather_minus_100.py", "clamp(min=0)"),
    ("response_log_probs/mutant_probabilities.py", "these are probabilities"),
    ("response_log_probs/mutant_log_softmax_wrong_dim.py", "the wrong axis"),
    ("response_log_probs/mutant_cross_entropy_sign.py", "the sign is flipped"),
    ("response_log_probs/mutant_cross_entropy_mean.py", "one number per sequence"),
    ("response_log_probs/mutant_no_gradient.py", "no gradient reaches the logits"),
    ("response_log_probs/mutant_zero_id_dropped.py", "0 is a real token id"),
    ("response_log_probs/mutant_log_of_softmax.py", "softmax rounds a probability of e^-120 to 0"),
    ("response_log_probs/mutant_squeezed.py", "squeeze() without a dim drops EVERY axis of size 1"),
    ("dpo_loss/mutant_swapped.py", "chosen and rejected are swapped"),
    ("dpo_loss/mutant_reference_forgotten.py", "the reference is forgotten"),
    ("dpo_loss/mutant_beta_on_policy_only.py", "beta multiplies the policy's term only"),
    ("dpo_loss/mutant_beta_on_chosen_only.py", "beta multiplies the chosen log-ratio only"),
    ("dpo_loss/mutant_beta_missing.py", "beta is missing"),
    ("dpo_loss/mutant_divided_by_beta.py", "divided by beta"),
    ("dpo_loss/mutant_sum_over_batch.py", "summed over the batch"),
    ("dpo_loss/mutant_sigmoid_without_log.py", "-sigmoid instead of -log sigmoid"),
    ("dpo_loss/mutant_sign.py", "the loss is MINUS log sigmoid"),
    ("dpo_loss/mutant_references_crossed.py", "the references are crossed"),
    ("dpo_loss/mutant_naive_log_sigmoid.py", "F.logsigmoid"),
    ("dpo_loss/mutant_default_beta_one.py", "default beta=0.1"),
    ("dpo_loss/mutant_epsilon_in_log.py", "bounds each pair's loss by -log(eps)"),
    ("dpo_loss/mutant_sigmoid_clamped.py", "bounds each pair's loss by -log(eps)"),
]

from answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
