"""The release issue's lever "a multilingual dense model as a second teacher": the default student recipe
(``STUDENT``) whose score-distillation target mixes the teacher's softmax over each bitext pair's English candidates
with multilingual-e5-small's, mE5 reading the pair's other-language sentence as a query against the same candidates
(cosine / ``--temperature``, 0.01 as e5 was trained). Only the target changes: the student's data are still bitext
only, and mE5 is a second teacher, named as such in docs/study.md. Learning curves as the release runs (every 200
steps), to compare at equal steps with the recipe's three seeds; the 800-step schedule is kept, so stop the run
(Ctrl-C; it resumes from its checkpoints) once the curve has the steps to compare.

    python examples/dense_teacher.py --out runs/lever-dense-teacher-0.5-s42 [--weight 0.5] [--seed 42]

One output folder per weight and temperature: a resumed run checks the recipe and data, not these two.
"""
import argparse
import math
from dataclasses import replace

import torch

from pyterrier_optical.rerank.dense import E5Encoder
from pyterrier_optical.train.config import STUDENT
from pyterrier_optical.train.distill import OpticalDistiller, distill_student
from pyterrier_optical.train.embedded import embedded_path


class DenseTeacherDistiller(OpticalDistiller):
    """The OPTICAL distiller whose score target is ``(1 - weight)`` the teacher's softmax plus ``weight`` mE5's."""

    def __init__(self, *args, weight: float, temperature: float, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 < weight <= 1 or temperature <= 0:
            raise ValueError(f"weight must be in (0, 1] and temperature > 0, got {weight}, {temperature}")
        self.weight, self.temperature = weight, temperature
        self.dense = E5Encoder(cache=True)  # the English candidates recur: their vectors are kept

    def score_target(self, teacher_log_probs, other, candidates) -> torch.Tensor:
        n = teacher_log_probs.shape[-1]
        cosine = torch.from_numpy(self.dense.score([q for q in other for _ in range(n)],
                                                   [d for pool in candidates for d in pool])).view(len(other), n)
        dense_log_probs = torch.log_softmax(cosine / self.temperature, -1).to(teacher_log_probs.device)
        if self.weight == 1:
            return dense_log_probs
        return torch.logsumexp(torch.stack([teacher_log_probs + math.log(1 - self.weight),
                                            dense_log_probs + math.log(self.weight)]), 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--weight", type=float, default=0.5, help="mE5's share of the target (1: mE5 alone)")
    parser.add_argument("--temperature", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--curve-every", type=int, default=200)
    args = parser.parse_args()
    distill_student(embedded_path("optical-teacher"), args.out, replace(STUDENT, training=replace(
        STUDENT.training, seed=args.seed)), curve_every=args.curve_every, distiller=DenseTeacherDistiller,
        weight=args.weight, temperature=args.temperature)


if __name__ == "__main__":
    main()
