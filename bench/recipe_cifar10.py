"""What each ingredient of kd_nb's 'strong' recipe adds to the seed's student, on all of CIFAR-10, over seeds.

    python bench/recipe_cifar10.py [--rows augment,schedule,distil_strong,distil_seed_teacher,kd_strong] [--seeds N] [--first-seed S]
                                   [--epochs N] [--teacher-epochs N] [--subset N --test-subset N --out PATH] [--plan]

The seed's student architecture (267,738 parameters) throughout; each row adds one ingredient to the row before:

    augment           cross-entropy, the seed's 10 epochs at Adam 1e-3, with random crops and flips
    schedule          cross-entropy, the recipe's 30 epochs of OneCycle up to 3e-3, with crops and flips:
                      the plain student of `compare(recipe('strong'))`
    distil_strong        the recipe's method (DIST) against the recipe's teacher (the seed's teacher architecture,
                         30 epochs of OneCycle up to 2e-3 with crops and flips), running live on every augmented
                         batch: the distilled student of `compare(recipe('strong'))`
    distil_seed_teacher  the same, against the seed's teacher (10 epochs, constant lr, no augmentation): what the
                         stronger teacher adds
    kd_strong            instead of DIST, KD at the full-data sweep's best cell (T = 2, soft weight 0.9; kd_sweep_cifar10.json),
                         against the recipe's teacher running live: what the method adds

The first row of the page's table, the seed's own student, is `"ce"` of nbs/results/methods_cifar10.json (same seeds,
same initial weights). Every row's student for seed S starts from the same weights (`seed_everything(S)` before it is
built) and its loader is seeded with S. Both teachers come from kd_nb's teacher cache (trained once, in the precision
`auto` picks). The results, rewritten after every student, go to nbs/results/recipe_cifar10.json in the layout of the
other seeded files (`{row: {"acc": [...], "seeds": [...], "seconds": [...], ...}, "teachers": {...}, ...}`); a second
start skips the (row, seed) pairs already there. The order: the cheap rows seed by seed, then each distilled row for two seeds, then the rest.
A quick check of the whole path: `--subset 1000 --test-subset 500 --epochs 1 --teacher-epochs 1 --seeds 2 --out /tmp/r.json`.
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, data_dir_from, load_results, save_results, add_run, has_run, start_session
from kd_nb.core import get_device, seed_everything, resolve_precision
from kd_nb.data import load_arrays, get_loaders
from kd_nb.models import StudentModel, count_params, models_for
from kd_nb.training import train, train_kd, evaluate
from kd_nb.experiment import Config, RECIPES, recipe, get_teacher, teacher_key

ROWS = ('augment', 'schedule', 'distil_strong', 'distil_seed_teacher', 'kd_strong')
R = RECIPES['strong']
KD_BEST = 'kd(temperature=2, weight=0.9)' # the best cell of kd_sweep_cifar10.json

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', default=','.join(ROWS), help=f"comma-separated rows to train (default: all): {', '.join(ROWS)}")
    p.add_argument('--seeds', type=int, default=3, help="seeds --first-seed, --first-seed + 1, ... (default: 3)")
    p.add_argument('--first-seed', type=int, default=42)
    p.add_argument('--epochs', type=int, default=R['epochs'], help=f"the recipe's epochs, for students and its teacher (default: {R['epochs']})")
    p.add_argument('--seed-epochs', type=int, default=10, help="epochs of the 'augment' row and of the seed's teacher (default: 10, the seed's)")
    p.add_argument('--teacher-epochs', type=int, default=None, help="override both teachers' epochs (for quick checks)")
    p.add_argument('--subset', type=int, default=None); p.add_argument('--test-subset', type=int, default=None)
    p.add_argument('--precision', default='auto')
    p.add_argument('--out', default=None, help="the results JSON (default: nbs/results/recipe_cifar10.json)")
    p.add_argument('--data-dir', default=None); p.add_argument('--cache-dir', default=None); p.add_argument('--device', default=None)
    p.add_argument('--plan', action='store_true', help="print the runs still to do and exit")
    a = p.parse_args(argv)
    a.row_list = [r.strip() for r in a.rows.split(',') if r.strip()]
    bad = [r for r in a.row_list if r not in ROWS]
    if bad: p.error(f"unknown row(s) {', '.join(bad)}; known: {', '.join(ROWS)}")
    for k in ('seeds', 'epochs', 'seed_epochs'):
        if getattr(a, k) < 1: p.error(f"--{k.replace('_', '-')} must be at least 1")
    if a.subset is not None and a.out is None: p.error("a --subset run must not write the committed results: give --out PATH")
    a.out = Path(a.out) if a.out else RESULTS/'recipe_cifar10.json'
    a.seed_list = list(range(a.first_seed, a.first_seed + a.seeds))
    return a

def configs(a) -> dict:
    "The two teachers' `Config`s: the recipe's and the seed's."
    sub = dict(subset=a.subset, test_subset=a.test_subset, precision=a.precision)
    te = lambda n: dict(teacher_epochs=a.teacher_epochs or n)
    return dict(strong=recipe('strong', epochs=a.epochs, **te(a.epochs), **sub), seed=Config(epochs=a.seed_epochs, **te(a.seed_epochs), **sub))

def row_settings(a, row:str) -> dict:
    "How `row`'s student trains: epochs, lr, schedule, augmentation, and the teacher and KD settings of distilled rows."
    if row == 'augment': return dict(epochs=a.seed_epochs, lr=1e-3, schedule=None, augment=True)
    base = dict(epochs=a.epochs, lr=R['lr'], schedule=R['schedule'], augment=True)
    if row == 'schedule': return base
    if row == 'kd_strong': return dict(base, method=KD_BEST, teacher='strong')
    return dict(base, method=R['method'], teacher='strong' if row == 'distil_strong' else 'seed')

def plan_for(a) -> list:
    """The cheap rows seed by seed; then the distilled ones (about 15 min each on a 2-core CPU) for the first two seeds,
    row by row, so that an interrupted run has an interval for the recipe's student first; then the other seeds."""
    cheap = [r for r in a.row_list if r in ('augment', 'schedule')]
    kd = [r for r in a.row_list if r not in cheap]
    return ([(r, s) for s in a.seed_list for r in cheap] + [(r, s) for r in kd for s in a.seed_list[:2]] +
            [(r, s) for s in a.seed_list[2:] for r in kd])

def main(argv=None):
    a = parse_args(argv)
    device = get_device(a.device); prec = resolve_precision(a.precision, device)
    data = load_arrays('cifar10', data_dir_from(a.data_dir), a.subset, a.test_subset)
    test_dl = get_loaders(data, 64, device=device, seed=0)[1]
    cfgs = configs(a)
    settings = dict(dataset='cifar10', n_train=len(data.y_train), n_test=len(data.y_test), data=data.fingerprint(), precision=prec,
                    device=device.type, student='StudentModel', batch_size=64, optimizer='Adam', recipe=R, epochs=a.epochs,
                    seed_epochs=a.seed_epochs, teacher_keys={k: teacher_key(data, c, precision=prec) for k, c in cfgs.items()})
    res = load_results(a.out, settings)
    plan = plan_for(a); todo = [(r, s) for r, s in plan if not has_run(res, r, s)]
    print(f"{len(plan) - len(todo)} of {len(plan)} runs already in {a.out}; {len(todo)} to do: " +
          ', '.join(f"{r} seed {s}" for r, s in todo), flush=True)
    if a.plan: return 0
    start_session(res); res.update(n_train=settings['n_train'], n_test=settings['n_test'], rows={r: row_settings(a, r) for r in ROWS})
    teachers = {}
    def teacher(name):
        if name not in teachers:
            print(f"teacher '{name}': from the cache or trained now ({cfgs[name].teacher_epochs} epochs)", flush=True)
            t, rec = get_teacher(data, cfgs[name], a.cache_dir, device=device)
            teachers[name] = t.eval()
            res.setdefault('teachers', {})[name] = dict(acc=evaluate(t, test_dl, precision=prec)['acc'], seconds=rec['seconds'],
                                                        reused=rec['reused'], key=rec.get('key'), epochs=cfgs[name].teacher_epochs,
                                                        history=rec.get('history'), params=count_params(t))
            print(f"teacher '{name}': {res['teachers'][name]['acc']:.2f}% test accuracy", flush=True)
        return teachers[name]
    before, t_start = res.get('seconds_total', 0), time.perf_counter()
    for i, (row, seed) in enumerate(todo, 1):
        rs = row_settings(a, row)
        t = teacher(rs['teacher']) if 'method' in rs else None
        seed_everything(seed); s = StudentModel(**models_for(data.info))
        dl = get_loaders(data, 64, device=device, seed=seed, augment=rs['augment'])[0]
        t0 = time.perf_counter(); common = dict(schedule=rs['schedule'], precision=a.precision, desc=f"{row} seed {seed}")
        if t is None: hist = train(s, dl, rs['epochs'], rs['lr'], device, **common)
        else: hist = train_kd(t, s, dl, rs['epochs'], rs['lr'], device, method=rs['method'], **common)
        out = dict(acc=evaluate(s, test_dl, precision=prec)['acc'], seconds=time.perf_counter() - t0, history=hist)
        add_run(res, row, seed, out)
        res['seconds_total'] = before + time.perf_counter() - t_start
        save_results(a.out, res)
        print(f"[{i}/{len(todo)}] {row} seed {seed}: {out['acc']:.2f}% in {out['seconds']:.0f} s", flush=True)
    print(f"Written to {a.out}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
