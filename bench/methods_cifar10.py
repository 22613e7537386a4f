"""Every distillation method against the plain student, on all of CIFAR-10, over several seeds.

    python bench/methods_cifar10.py [--methods all | ce,kd,...] [--seeds N] [--first-seed S] [--epochs N]
                                    [--precision auto|fp32|bf16|fp16] [--subset N --out PATH] [--plan]

The tutorial's setting: its student and teacher, 10 epochs, batch 64, Adam at 1e-3. For each seed S (42, 43, ...)
it trains the cross-entropy student ("ce") and one student per method, all from the same initial weights and on the
same batches (see bench/seeded_runs.py), against one teacher whose outputs are computed once. "kd" is the tutorial's
distillation (T = 2, soft-target weight 0.25, label weight 0.75: the method spec 'kd'); the other methods are those of
`kd_nb.methods.METHODS`, each with its defaults. Runs go seed by seed, so an interrupted file still holds complete
seeds. The results, rewritten after every student, go to nbs/results/methods_cifar10.json:

    {"ce": {"acc": [...], "seeds": [...], "seconds": [...], "train_loss": [...], "history": [...]},
     "kd": {"temperature": 2.0, "soft_target_loss_weight": 0.25, "ce_loss_weight": 0.75, "method": "kd", "acc": [...], ...},
     "dkd": {"method": "dkd", "acc": [...], ...}, ..., "models": [...], "epochs": 10, "n_train": 50000, "n_test": 10000,
     "settings": {...}, "teacher": {...}, "hardware": {...}, "sessions": [...], "seconds_total": ...}

A second start skips the (model, seed) pairs already in the file, so `--seeds 3` then `--methods ce,kd --seeds 8`
gives three seeds of every method and eight of the plain and KD students. A quick check of the whole path:
`--subset 1000 --test-subset 500 --epochs 1 --teacher-epochs 1 --seeds 2 --methods ce,kd --out /tmp/m.json`.
"""
from __future__ import annotations
import json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, Bench, base_parser, check_args, distiller, kd_meta, open_run, run_plan, fail
from kd_nb.methods import METHODS
from kd_nb.stats import gain_table

KNOWN = ['kd'] + [n for n in METHODS if n != 'kd']   # 'kd' first: the tutorial's distillation

def parse_args(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], RESULTS/'methods_cifar10.json', default_seeds=3)
    p.add_argument('--methods', default='all',
                   help=f"comma-separated method names, or 'all' (default): {', '.join(KNOWN)}. "
                        "The plain student 'ce' is always trained: every method is compared with it")
    p.add_argument('--replace', default='', help="comma-separated methods whose entries in the file were trained with other settings: drop them and train again")
    a = p.parse_args(argv)
    a.replace = [m.strip() for m in a.replace.split(',') if m.strip()]
    names = KNOWN if a.methods == 'all' else [m.strip().lower() for m in a.methods.split(',') if m.strip()]
    bad = [m for m in names if m not in KNOWN + ['ce']]
    if bad: p.error(f"unknown method(s) {', '.join(bad)}; known: ce, {', '.join(KNOWN)}")
    a.method_list = [m for m in dict.fromkeys(names) if m != 'ce']
    return check_args(p, a)

BEFORE_RECORDS = {'dkd': 'dkd(warmup=None)', 'logit_std': 'logit_std(unbiased=False)'}   # what these were when the file recorded no settings

def meta(name:str) -> dict:
    "What the file records of a method's student: its name, its settings in full (and for 'kd', the tutorial's three settings)."
    return dict(kd_meta(name) if name == 'kd' else {}, method=name, settings=distiller(name).settings())

def check_recorded(res:dict, a):
    """A method whose entry was trained with other settings than its defaults now is refused, not mixed: entries without a
    record are from before settings were recorded (DKD without its warm-up, LogitStd's σ over C), unless --replace drops them."""
    for m in a.method_list:
        if m not in res: continue
        was = res[m].get('settings') or distiller(BEFORE_RECORDS.get(m, m)).settings()
        if was == meta(m)['settings']: res[m].setdefault('settings', was); continue
        if m in a.replace: print(f"{m}: its {len(res[m]['seeds'])} seeds in {a.out.name} were trained with other settings ({was}); dropped, to run again"); del res[m]; continue
        fail(f"{m} in {a.out} was trained with other settings ({was}) than its defaults now ({meta(m)['settings']}): "
             f"give --replace {m} to train its seeds again with the current ones")

def plan_for(a) -> list:
    "The runs, seed by seed: `(key, seed, the method's Distiller or None for cross-entropy, what to record)`."
    ds = {m: distiller(m) for m in a.method_list}   # each method with its defaults
    return [(m, s, ds.get(m), {} if m == 'ce' else meta(m)) for s in a.seed_list for m in ['ce'] + a.method_list]

def main(argv=None):
    a = parse_args(argv)
    if a.out.exists() and not a.replace: check_recorded(json.loads(a.out.read_text()), a)   # refused before any work, --plan included
    bench = Bench(a); plan = plan_for(a)
    res = open_run(a, bench, plan, epochs=a.epochs)
    if res is None: return 0
    check_recorded(res, a)
    res['models'] = list(dict.fromkeys(res.get('models', []) + ['ce'] + a.method_list))
    print(f"{res['n_train']} training and {res['n_test']} test images, {a.epochs} epochs, seeds {a.seed_list}, "
          f"models {', '.join(['ce'] + a.method_list)}, device {bench.device}, precision {bench.prec}", flush=True)
    res = run_plan(bench, res, a.out, plan)
    print('\n' + gain_table(res).markdown() + f"\n\nWritten to {a.out}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
