"""The PyTorch knowledge-distillation tutorial's two variants, reproduced on all of CIFAR-10 with its models.

    python bench/tutorial_variants.py [--seeds N] [--first-seed S] [--epochs N] [--out PATH]

After the part that kd_nb starts from (a student trained with cross-entropy, 69.86% in the tutorial's run, and one
distilled with Hinton's soft targets, 70.80%), the tutorial trains two more students, each with hand-modified model
classes: one with a cosine loss between the flattened convolutional outputs of teacher and student (71.50%), and one
with a FitNets-style regressor from the student's feature map to the teacher's (70.82%). Here the same four students
are trained with kd_nb, the models untouched: the variants are `kd_nb.methods.Cosine` and `kd_nb.methods.FitNet` with
their defaults (the tutorial's: both networks' `features`, hidden-representation / feature-map weight 0.25,
cross-entropy weight 0.75, a 3×3 convolution 16 -> 32 channels as FitNet's regressor), each student trained by
`kd_nb.students.train_student`. The settings are the tutorial's: the teacher from `kd_nb.teachers.get_teacher`
(10 epochs, trained once and then reused from the teacher cache), 10 epochs per student, batch 64, Adam at 1e-3.

For each seed the four students ("ce", "kd", "cosine", "fitnet") start from the same initial weights and see the same
batches; the teacher's logits and `features` outputs for the training images (2,048 numbers per image, 410 MB in fp32)
are computed once and shared. The results are rewritten after every student to nbs/results/tutorial_variants.json, and a
second start skips the (student, seed) pairs already there (bench/seeded_runs.py does the bookkeeping). A quick check of
the whole path, a minute or two on a CPU:
`--subset 1000 --test-subset 500 --epochs 1 --teacher-epochs 1 --seeds 1 --out /tmp/tv.json`.
"""
from __future__ import annotations
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, Bench, base_parser, check_args, distiller, kd_meta, open_run, run_plan
from kd_nb.stats import gain_table

TUTORIAL = dict(ce=69.86, kd=70.80, cosine=71.50, fitnet=70.82)   # the tutorial's reported test accuracies (one run, on a GPU)
STUDENTS = dict(kd='kd', cosine='cosine', fitnet='fitnet')   # each distilled student's method spec: kd_nb's defaults are the tutorial's
MODELS = ['ce', *STUDENTS]

def parse_args(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], RESULTS/'tutorial_variants.json', default_seeds=3)
    p.set_defaults(precision='fp32')   # the tutorial's arithmetic; --precision auto may pick bf16
    return check_args(p, p.parse_args(argv))

def meta(k:str) -> dict:
    "What the file records of a student: the tutorial's accuracy, and its KD settings or its method's name."
    own = {} if k == 'ce' else kd_meta(STUDENTS[k]) if k == 'kd' else dict(method=STUDENTS[k])
    return dict(own, tutorial_acc=TUTORIAL[k])

def plan_for(a) -> list:
    "(student, seed, its Distiller or None for cross-entropy, what to record), seed by seed, the plain student first."
    ds = {k: distiller(v) for k, v in STUDENTS.items()}
    return [(k, s, ds.get(k), meta(k)) for s in a.seed_list for k in MODELS]

def main(argv=None):
    a = parse_args(argv)
    bench = Bench(a); plan = plan_for(a)
    res = open_run(a, bench, plan, epochs=a.epochs)
    if res is None: return 0
    res.update(models=MODELS,
               tutorial=dict(reported_acc=TUTORIAL, source="https://pytorch.org/tutorials/beginner/knowledge_distillation_tutorial.html"))
    print(f"{res['n_train']} training and {res['n_test']} test images, {a.epochs} epochs, seeds {a.seed_list}, "
          f"students {', '.join(MODELS)}, device {bench.device}, precision {bench.prec}", flush=True)
    res = run_plan(bench, res, a.out, plan)
    print('\n' + gain_table(res).markdown())
    print('\nthe tutorial (one run): ' + ', '.join(f"{k} {v:.2f}%" for k, v in TUTORIAL.items()) + f"\n\nWritten to {a.out}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
