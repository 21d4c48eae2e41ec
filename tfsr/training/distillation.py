"""Training on a teacher's images instead of the HR photos (distillation).

``--teacher A B --teacher-weights 0.5 0.5`` trains the network to reproduce
``0.5·A(LR) + 0.5·B(LR)``: each batch's HR target is replaced by that blend
of fixed, trained models' images (each clipped to [0, 255], as saved images
are). The LR still comes from the HR photo through the run's degradations.

Why: a GAN's and an L1 model's *images* blended look better and keep more
fidelity than any blend of their weights (docs/history/2026-11-22_to_12-05-training-log.md §7), but that
costs two networks. The blend is a fixed function of the LR, so the pixel
loss has nothing to average (against the HR, its best answer is the mean
of the plausible details, a blur), and one network can follow it.

The teachers are frozen (outside the optimizer) and saved with the run's
checkpoint, so ``--resume`` trains against the same teachers even if their
files have changed since.
"""
import tensorflow as tf

from tfsr.errors import ModelError
from tfsr.models import for_scale, load_model
from tfsr.training.trainers import Trainer


class TeacherError(ValueError):
    """Teachers that cannot be used (missing, another scale, weights that do not add up)."""


def check_teacher_weights(teachers, weights):
    """The blend's weights: one per teacher, each in [0, 1], summing to 1 (default: equal shares)."""
    if not teachers:
        raise TeacherError("--teacher-weights needs --teacher")
    if weights is None:
        return [1.0 / len(teachers)] * len(teachers)
    if len(weights) != len(teachers):
        raise TeacherError(f"--teacher-weights: {len(weights)} weight(s) for {len(teachers)} teacher(s)")
    if any(not 0.0 <= w <= 1.0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
        raise TeacherError(f"--teacher-weights {' '.join(f'{w:g}' for w in weights)}: each between 0 and 1, "
                           f"summing to 1")
    return [float(w) for w in weights]


def load_teachers(paths, scale):
    """The teacher models (presets, .keras files, SavedModels) at ``scale``."""
    teachers = []
    for path in paths:
        try:
            model, _ = for_scale(load_model(path), scale, path)
        except ModelError as e:
            raise TeacherError(f"--teacher {e}") from None
        teachers.append(model)
    return teachers


class DistillationTrainer(Trainer):
    """Trains ``net`` with its compiled loss against ``Σ weights[i] · teachers[i](LR)``; the teachers are frozen."""

    def __init__(self, net, teachers, weights, **kwargs):
        super().__init__(net, **kwargs)
        for teacher in teachers:
            teacher.trainable = False
        self.teachers = list(teachers)
        self.teacher_weights = tuple(weights)

    def teach(self, lr):
        """The target image of an LR batch: the teachers' clipped images, blended."""
        images = [tf.clip_by_value(tf.cast(t(lr, training=False), tf.float32), 0.0, 255.0) for t in self.teachers]
        return tf.stop_gradient(tf.add_n([w * image for w, image in zip(self.teacher_weights, images)]))

    def sr_step(self, data):
        lr, _ = data
        return super().sr_step((lr, self.teach(lr)))
