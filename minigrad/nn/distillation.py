"""DistillationLoss: the knowledge-distillation loss as a layer (the math and its reasons are in
functional/distillation.py). Read nn/ensemble.py next.
"""

from minigrad.functional.distillation import distillation_loss
from minigrad.nn.module import Module


class DistillationLoss(Module):
    """loss(student_logits, teacher_logits, target=None) = alpha · T² · KL(softmax(teacher/T) ||
    softmax(student/T)) + (1 − alpha) · cross_entropy(student_logits, target)
    (Hinton et al. 2015); without a target, the T² · KL term alone.

        teacher.eval()
        with minigrad.no_grad():
            teacher_logits = teacher(x)
        loss = kd(student(x), teacher_logits, y)"""

    def __init__(self, temperature=4.0, alpha=0.9):
        super().__init__()
        self.temperature = temperature
        self.alpha = alpha

    def forward(self, student_logits, teacher_logits, target=None):
        return distillation_loss(
            student_logits, teacher_logits, target, self.temperature, self.alpha
        )

    def extra_repr(self):
        return f"temperature={self.temperature}, alpha={self.alpha}"
