"""Every distillation method against the plain student, on all of CIFAR-10, over several seeds.

    python bench/methods_cifar10.py [--methods all | ce,kd,...] [--seeds N] [--first-seed S] [--epochs N]
                                    [--precision auto|fp32|bf16|fp16] [--subset N --out PATH] [--plan]

The seed notebook's setting: its student and teacher, 10 epochs, batch 64, Adam at 1e-3. For each seed S (42, 43, ...)
it trains the cross-entropy student ("ce") and one student per method, all from the same initial weights and on the
same batches (see bench/seeded_runs.py), against one teacher whose logits are computed once. "kd" is the seed's
distillation (T = 2, soft-target weight 0.25, label weight 0.75); the other methods are those of `kd_nb.methods.METHODS`
(when that module exists), each with its defaults. Runs go seed by seed, so an interrupted file still holds complete
seeds. The results, rewritten after every student, go to nbs/results/methods_cifar10.json:

    {"ce": {"acc": [...], "seeds": [...], "seconds": [...], "train_loss": [...], "history": [...]}, "kd": {...}, ...,
     "models": [...], "epochs": 10, "n_train": 50000, "n_test": 10000, "settings": {...}, "teacher": {...},
     "hardware": {...}, "sessions": [...], "seconds_total": ...}

A second start skips the (model, seed) pairs already in the file, so `--seeds 3` then `--methods ce,kd --seeds 8`
gives three seeds of every method and eight of the plain and KD students. A quick check of the whole path:
`--subset 1000 --test-subset 500 --epochs 1 --teacher-epochs 1 --seeds 2 --methods ce,kd --out /tmp/m.json`.
"""
from __future__ import annotations
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, base_parser, check_args, open_run, run_plan

KD = dict(temperature=2.0, soft_target_loss_weight=0.25, ce_loss_weight=0.75)   # the seed notebook's distillation

def available_methods() -> list:
    "'kd' and, once kd_nb.methods exists, every name of its METHODS."
    try: from kd_nb.methods import METHODS
    except ImportError: return ['kd']
    return ['kd'] + [n for n in METHODS if n != 'kd']

def kd_kwargs(name:str) -> dict:
    """The `train_kd` arguments of a method: the seed's KD for 'kd', else the method by name with its defaults, and
    (as `layers`) the teacher's layers it compares, whose outputs are computed once and shared like the logits."""
    if name == 'kd': return dict(KD)
    from kd_nb.methods import as_distiller
    return dict(method=name, layers=tuple(as_distiller(name).teacher_layers))

def parse_args(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], RESULTS/'methods_cifar10.json', default_seeds=3)
    p.add_argument('--methods', default='all',
                   help=f"comma-separated method names, or 'all' (default): {', '.join(available_methods())}. "
                        "The plain student 'ce' is always trained: every method is compared with it")
    a = p.parse_args(argv)
    known = available_methods()
    names = known if a.methods == 'all' else [m.strip().lower() for m in a.methods.split(',') if m.strip()]
    bad = [m for m in names if m not in known + ['ce']]
    if bad: p.error(f"unknown method(s) {', '.join(bad)}; known: ce, {', '.join(known)}")
    a.method_list = [m for m in dict.fromkeys(names) if m != 'ce']
    import inspect
    from kd_nb.training import train_kd
    if any(m != 'kd' for m in a.method_list) and 'method' not in inspect.signature(train_kd).parameters:
        p.error("this kd_nb's train_kd has no method= argument yet: only --methods ce,kd can run")
    return check_args(p, a)

def plan_for(a) -> list:
    "The runs, seed by seed: `(key, seed, train_kd kwargs or None for cross-entropy, metadata)`."
    meta = lambda m: {k: v for k, v in dict(kd_kwargs(m), method=m).items() if k != 'layers'}
    return [(m, s, None if m == 'ce' else kd_kwargs(m), {} if m == 'ce' else meta(m)) for s in a.seed_list for m in ['ce'] + a.method_list]

def main(argv=None):
    a = parse_args(argv)
    opened = open_run(a, plan_for)
    if opened is None: return 0
    bench, settings, res, plan = opened
    res['models'] = list(dict.fromkeys(res.get('models', []) + ['ce'] + a.method_list))
    print(f"{settings['n_train']} training and {settings['n_test']} test images, {a.epochs} epochs, seeds {a.seed_list}, "
          f"models {', '.join(['ce'] + a.method_list)}, device {bench.device}, precision {bench.prec}", flush=True)
    res = run_plan(bench, res, a.out, plan)
    from kd_nb.stats import gain_table
    print('\n' + gain_table(res).markdown() + f"\n\nWritten to {a.out}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
