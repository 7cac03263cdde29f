"""Cost of OPTICAL's optimal transport in a distillation step, against the same student's plain forward+backward.

On one batch of 16 real (English, Swahili) pairs at max_length 64, multilingual-e5-small (the default teacher when it
is in the cache), alignment at layer 6:
- plain: the student's forward to layer 6 on the Swahili side and a backward of a plain loss of its states;
- OT: the same forward and backward with the loss replaced by the OT loss against the teacher's English states
  (the teacher's forward, without gradients, is timed apart: it is needed by any distillation loss).

    python benchmarks/distill.py [--repeats 5]
"""
import argparse
import time

import numpy as np
import torch

from pyterrier_optical.rerank.backbones import embedded_backbone_path
from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.train.embedded import embedded_folder
from pyterrier_optical.train.distill import DistillConfig, OpticalDistiller, freeze_for_distillation, token_states
from pyterrier_optical.rerank.checkpoint import is_checkpoint
from pyterrier_optical.train.ot import ot_alignment_loss


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    teacher = embedded_folder("optical-teacher")
    model = str(teacher if is_checkpoint(teacher) else embedded_backbone_path())
    config = DistillConfig(align_layer=6, score_weight=0.0)
    distiller = OpticalDistiller(model, config)
    student, tok, k = distiller.student, distiller.tokenizer, distiller.layer
    freeze_for_distillation(student, k, True, True)
    pairs = load_bitext("sw", "train")[:16]
    english, other = [e for e, _ in pairs], [o for _, o in pairs]
    with torch.no_grad():
        t_states, t_mask = token_states(distiller.teacher, tok, english, k, config.max_length, "cpu")

    def plain():
        states, mask = token_states(student, tok, other, k, config.max_length, "cpu")
        (states * mask.unsqueeze(-1)).pow(2).mean().backward()
        student.zero_grad(set_to_none=True)

    def with_ot():
        states, mask = token_states(student, tok, other, k, config.max_length, "cpu")
        loss, _, _ = ot_alignment_loss(t_states, states, t_mask, mask, config.epsilon, config.normalise_cost,
                                       config.sinkhorn_iter, config.sinkhorn_tol)
        loss.backward()
        student.zero_grad(set_to_none=True)

    def teacher_forward():
        with torch.no_grad():
            token_states(distiller.teacher, tok, english, k, config.max_length, "cpu")

    plain(), with_ot()  # warm-up
    plain_s, ot_s, teacher_s = timed(plain, args.repeats), timed(with_ot, args.repeats), timed(teacher_forward,
                                                                                              args.repeats)
    print(f"model {model}; batch 16 x max_length {config.max_length}, layer {k}, epsilon {config.epsilon}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"  student forward+backward, plain loss   {plain_s * 1000:8.1f} ms")
    print(f"  student forward+backward, OT loss      {ot_s * 1000:8.1f} ms")
    print(f"  teacher forward (no grad)              {teacher_s * 1000:8.1f} ms")
    print(f"OT overhead: {ot_s / plain_s - 1:+.1%} (target <= 15%); whole step vs plain: "
          f"{(ot_s + teacher_s) / plain_s - 1:+.1%}")


if __name__ == "__main__":
    main()
