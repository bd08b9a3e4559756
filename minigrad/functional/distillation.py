"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network"): a student learns from a teacher's softened outputs. nn.DistillationLoss wraps it.
It ends functional/; autograd/ comes next.

With temperature T, p = softmax(logits / T) spreads the teacher's belief over the wrong
classes ("a 2 looks a bit like a 7"), the dark knowledge hard labels lack:

    kd   = T² · KL(softmax(teacher / T) || softmax(student / T))    (per sample, batch mean)
    loss = alpha · kd + (1 − alpha) · cross_entropy(student, target)

The T² keeps kd's gradients on the scale of the hard loss's: the soft gradient
(q_i − p_i) / T shrinks as 1/T and the softened differences as another 1/T.
"""

from minigrad.functional.activations import log_softmax
from minigrad.functional.cross_entropy import cross_entropy
from minigrad.functional.losses import kl_div


def _check(name, value, low, high, wanted):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"distillation_loss: {name} must be {wanted}, got {value!r}")


def distillation_loss(student_logits, teacher_logits, target=None, temperature=4.0, alpha=0.9):
    """alpha · T² · KL(softmax(teacher/T) || softmax(student/T)) + (1 − alpha) · CE(student,
    target) for logits (N, C); without target, the KD term alone (T² · KL). The teacher is
    treated as fixed: no gradient flows into teacher_logits."""
    _check("temperature", temperature, 1e-8, float("inf"), "a number > 0")
    _check("alpha", alpha, 0.0, 1.0, "a number in [0, 1]")
    if student_logits.ndim != 2 or tuple(teacher_logits.shape) != tuple(student_logits.shape):
        raise ValueError(
            "distillation_loss: student and teacher logits must both be (N, C), got "
            f"{student_logits.shape} and {teacher_logits.shape}"
        )
    log_q = log_softmax(student_logits / temperature, dim=1)
    log_p = log_softmax(teacher_logits.detach() / temperature, dim=1)
    kd = kl_div(log_q, log_p, reduction="batchmean", log_target=True) * temperature**2
    if target is None:
        return kd
    return alpha * kd + (1.0 - alpha) * cross_entropy(student_logits, target)
