"""Training speed: one optimizer step of the shipped recipes in fp32 and in bf16, and the cost of OPTICAL's optimal
transport inside a distillation step.

- student step: the embedded student's recipe (``models.recipes.STUDENT``: OT at layer 6 plus score distillation over
  8 English candidates, batch 8 of real English-Swahili pairs, max_length 64): teacher and student forwards, the
  loss, backward and AdamW step, under autocast for bf16 as the Trainer runs it (per step);
- the same step without the OT term (``ot_weight=0``): the OT overhead is the difference;
- teacher step: the embedded teacher's recipe (``models.recipes.TEACHER``: listwise loss over 1 + 7 candidates, batch
  8, max_length 64).

The model is the embedded teacher when it is in the cache (else the backbone with a fresh head). The steps run
alternately, ``--repeats`` times each; medians and spreads are printed with the ratios.

    python benchmarks/distill.py [--repeats 5]
"""
import argparse
import copy
import statistics
from dataclasses import replace

import torch
from common import alternating, machine

from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.models.cross_encoder import load_cross_encoder
from pyterrier_optical.models.recipes import STUDENT, TEACHER
from pyterrier_optical.train.distill import OpticalDistiller
from pyterrier_optical.models.registry import embedded_path
from pyterrier_optical.train.teacher import english_task, listwise_loss
from pyterrier_optical.util.device import autocast


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    model = str(embedded_path("optical-teacher"))  # the shipped teacher, assembled in seconds
    pairs = load_bitext("sw", "train")[:STUDENT.training.batch_size]

    def distillation_step(ot: bool):
        config = STUDENT.distillation if ot else replace(STUDENT.distillation, ot_weight=0.0)
        distiller = OpticalDistiller(model, config)
        distiller.set_trainable()
        optimizer = torch.optim.AdamW([p for p in distiller.student.parameters() if p.requires_grad], lr=1e-6)
        pools = distiller.candidates(pairs)

        def step(precision):
            with autocast(precision, "cpu"):
                loss, _ = distiller.loss(distiller.student, pairs, "cpu", pools)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    def teacher_step():
        cross_encoder, tokenizer, _ = load_cross_encoder(model, "cpu")
        cross_encoder = copy.deepcopy(cross_encoder).train()
        cross_encoder.get_input_embeddings().weight.requires_grad_(False)
        examples = english_task([en for en, _ in load_bitext("sw", "train")[:400]], TEACHER.negatives,
                                verbose=False)[:TEACHER.training.batch_size]
        optimizer = torch.optim.AdamW([p for p in cross_encoder.parameters() if p.requires_grad], lr=1e-6)

        def step(precision):
            with autocast(precision, "cpu"):
                loss = listwise_loss(cross_encoder, tokenizer, examples, TEACHER.negatives, TEACHER.max_length, "cpu")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    steps = {"student step (OT + score)": distillation_step(True), "student step, no OT": distillation_step(False),
             "teacher step": teacher_step()}
    runs = [(name, precision) for name in steps for precision in ("fp32", "bf16")]
    seconds = alternating({(name, precision): (lambda n=name, p=precision: steps[n](p)) for name, precision in runs},
                          args.repeats)
    median = {run: statistics.median(s) for run, s in seconds.items()}
    print(machine())
    print(f"model {model}; median of {args.repeats}")
    for (name, precision), s in seconds.items():
        print(f"  {name:28s} {precision}  {median[name, precision] * 1000:8.0f} ms  ({min(s) * 1000:.0f}-"
              f"{max(s) * 1000:.0f})")
    for name in steps:
        print(f"{name}: bf16 {median[name, 'fp32'] / median[name, 'bf16']:.2f}x faster than fp32 (goal >= 1.8x)")
    for precision in ("fp32", "bf16"):
        with_ot, without = median["student step (OT + score)", precision], median["student step, no OT", precision]
        print(f"OT overhead in the {precision} student step: {with_ot / without - 1:+.1%} of the step without it "
              f"(goal <= 15%)")


if __name__ == "__main__":
    main()
