"""KD's two knobs, temperature × soft-target weight, against the plain student, on all of CIFAR-10, over seeds.

    python bench/kd_sweep.py [--temperatures 1,2,4,8] [--weights 0.25,0.5,0.75,0.9] [--seeds N] [--first-seed S]
                             [--epochs N] [--precision auto|fp32|bf16|fp16] [--subset N --out PATH] [--plan]

For each seed S (42, 43, ...) it trains the cross-entropy student ("ce") and one distilled student per temperature T
and soft-target weight w (the label weight is 1 - w), all from the same initial weights and on the same batches (see
bench/seeded_runs.py), against the seed notebook's teacher, whose logits are computed once. The seed notebook's own
setting is T = 2, w = 0.25. The results, rewritten after every student, go to nbs/results/kd_sweep_cifar10.json:

    {"ce": {"acc": [...], "seeds": [...], ...}, "kd_T2_w0.25": {"temperature": 2.0, "soft_target_loss_weight": 0.25,
     "ce_loss_weight": 0.75, "acc": [...], "seeds": [...], ...}, ..., "grid": {"temperatures": [...],
     "soft_target_loss_weights": [...]}, "seed_setting": [2.0, 0.25], "epochs": 10, "n_train": 50000, "settings": {...}, ...}

A second start skips the (setting, seed) pairs already in the file. A quick check of the whole path:
`--subset 1000 --test-subset 500 --epochs 1 --teacher-epochs 1 --seeds 2 --temperatures 1,4 --weights 0.5,0.9 --out /tmp/s.json`.
"""
from __future__ import annotations
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, base_parser, check_args, open_run, run_plan

SEED_SETTING = (2.0, 0.25)

def floats(s:str) -> list: return [float(x) for x in s.split(',') if x.strip()]

def key(T:float, w:float) -> str: return f"kd_T{T:g}_w{w:g}"

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
    "The runs, seed by seed: the plain student, then every setting."
    out = []
    for s in a.seed_list:
        out.append(('ce', s, None, {}))
        for T in a.T_list:
            for w in a.w_list:
                kd = dict(temperature=T, soft_target_loss_weight=w, ce_loss_weight=round(1 - w, 10))
                out.append((key(T, w), s, kd, dict(kd)))
    return out

def main(argv=None):
    a = parse_args(argv)
    opened = open_run(a, plan_for)
    if opened is None: return 0
    bench, settings, res, plan = opened
    g = res.get('grid', {})
    res['grid'] = dict(temperatures=sorted(set(g.get('temperatures', [])) | set(a.T_list)),
                       soft_target_loss_weights=sorted(set(g.get('soft_target_loss_weights', [])) | set(a.w_list)))
    res.update(seed_setting=list(SEED_SETTING))
    print(f"{settings['n_train']} training and {settings['n_test']} test images, {a.epochs} epochs, seeds {a.seed_list}, "
          f"T in {a.T_list}, soft weight in {a.w_list}, device {bench.device}, precision {bench.prec}", flush=True)
    res = run_plan(bench, res, a.out, plan)
    from kd_nb.stats import sweep_gains
    gains = sorted(sweep_gains(res).items(), key=lambda kv: -kv[1].mean)
    print('\nmean gain over the plain student, best first:')
    for (T, w), g in gains: print(f"  T={T:g}, w={w:g}: {g}")
    print(f"\nWritten to {a.out}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
