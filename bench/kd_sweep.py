"""KD's two knobs, temperature × soft-target weight, against the plain student, on all of CIFAR-10, over seeds.

    python bench/kd_sweep.py [--temperatures 1,2,4,8] [--weights 0.25,0.5,0.75,0.9] [--seeds N] [--first-seed S]
                             [--epochs N] [--precision auto|fp32|bf16|fp16] [--subset N --out PATH] [--plan]

For each seed S (42, 43, ...) it trains the cross-entropy student ("ce") and one distilled student per temperature T
and soft-target weight w (the label weight is 1 - w: the method spec `kd(temperature=T, weight=w)+ce(weight=1 - w)`),
all from the same initial weights and on the same batches (see bench/seeded_runs.py), against the tutorial's teacher,
whose logits are computed once. The tutorial's own setting is T = 2, w = 0.25 (kd_nb's default 'kd'). The results,
rewritten after every student, go to nbs/results/kd_sweep_cifar10.json:

    {"ce": {"acc": [...], "seeds": [...], ...}, "kd_T2_w0.25": {"temperature": 2.0, "soft_target_loss_weight": 0.25,
     "ce_loss_weight": 0.75, "acc": [...], "seeds": [...], ...}, ..., "grid": {"temperatures": [...],
     "soft_target_loss_weights": [...]}, "tutorial_setting": [2.0, 0.25], "epochs": 10, "n_train": 50000, "settings": {...}, ...}

With `--valid 5000` the teacher and students train on 45,000 images and each student is also scored on the 5,000 held
out; the cell with the best mean validation accuracy is the sweep's choice (`kd_nb.stats.sweep_choice`), reported on the
test set (nbs/results/kd_sweep_cifar10_valid.json). A second start skips the (setting, seed) pairs already in the file. A quick check of the whole path:
`--subset 1000 --test-subset 500 --epochs 1 --teacher-epochs 1 --seeds 2 --temperatures 1,4 --weights 0.5,0.9 --out /tmp/s.json`.
"""
from __future__ import annotations
import sys
import numpy as np
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, Bench, base_parser, check_args, distiller, kd_meta, open_run, run_plan
from kd_nb.stats import sweep_cells, sweep_choice, sweep_gains

TUTORIAL_SETTING = (kd_meta('kd')['temperature'], kd_meta('kd')['soft_target_loss_weight'])   # the tutorial's: kd_nb's default 'kd'

def floats(s:str) -> list: return [float(x) for x in s.split(',') if x.strip()]

def key(T:float, w:float) -> str: return f"kd_T{T:g}_w{w:g}"

def spec(T:float, w:float) -> str:
    "The method spec of the cell (T, w): KD at temperature T with weight w, the labels' cross-entropy with weight 1 - w."
    return f"kd(temperature={T!r}, weight={w!r})+ce(weight={round(1 - w, 10)!r})"

def parse_args(argv=None):
    p = base_parser(__doc__.split('\n\n')[0], RESULTS/'kd_sweep_cifar10.json', default_seeds=2)
    p.add_argument('--temperatures', default='1,2,4,8', help="comma-separated temperatures (default: 1,2,4,8)")
    p.add_argument('--weights', default='0.25,0.5,0.75,0.9',
                   help="comma-separated soft-target weights in [0, 1]; the label weight is 1 minus each (default: 0.25,0.5,0.75,0.9)")
    a = p.parse_args(argv)
    try: a.T_list, a.w_list = floats(a.temperatures), floats(a.weights)
    except ValueError as e: p.error(f"--temperatures and --weights take comma-separated numbers ({e})")
    if not a.T_list or any(not T > 0 for T in a.T_list): p.error(f"temperatures must be > 0, got {a.temperatures}")
    if not a.w_list or any(not 0 <= w <= 1 for w in a.w_list): p.error(f"soft-target weights must be in [0, 1], got {a.weights}")
    return check_args(p, a)

def plan_for(a) -> list:
    "The runs, seed by seed: the plain student, then every cell, each with its `Distiller` and its settings to record."
    cells = [(key(T, w), spec(T, w)) for T in a.T_list for w in a.w_list]
    ds = {k: distiller(sp) for k, sp in cells}
    return [r for s in a.seed_list for r in [('ce', s, None, {})] + [(k, s, ds[k], kd_meta(sp)) for k, sp in cells]]

def main(argv=None):
    a = parse_args(argv)
    bench = Bench(a); plan = plan_for(a)
    res = open_run(a, bench, plan, epochs=a.epochs)
    if res is None: return 0
    g = res.get('grid', {})
    res['grid'] = dict(temperatures=sorted(set(g.get('temperatures', [])) | set(a.T_list)),
                       soft_target_loss_weights=sorted(set(g.get('soft_target_loss_weights', [])) | set(a.w_list)))
    res.update(tutorial_setting=list(TUTORIAL_SETTING))
    print(f"{res['n_train']} training and {res['n_test']} test images, {a.epochs} epochs, seeds {a.seed_list}, "
          f"T in {a.T_list}, soft weight in {a.w_list}, device {bench.device}, precision {bench.prec}", flush=True)
    res = run_plan(bench, res, a.out, plan)
    gains = sorted(sweep_gains(res).items(), key=lambda kv: -kv[1].mean)
    print('\nmean gain over the plain student, best first:')
    for (T, w), g in gains: print(f"  T={T:g}, w={w:g}: {g}")
    if a.valid:   # the choice is the validation split's; the test set only reports it
        T, w = sweep_choice(res); g = dict(gains)[(T, w)]
        print(f"\nchosen on validation: T={T:g}, w={w:g} ({np.mean(sweep_cells(res)[(T, w)]['valid_acc']):.2f}% validation); on the test set: {g}")
    print(f"\nWritten to {a.out}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
