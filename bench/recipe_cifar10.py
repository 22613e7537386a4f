"""What each ingredient of kd_nb's 'strong' recipe adds to the tutorial's student, on all of CIFAR-10, over seeds.

    python bench/recipe_cifar10.py [--rows augment,schedule,distil_strong,distil_tutorial_teacher,kd_strong,kd_valid] [--seeds N] [--first-seed S]
                                   [--epochs N] [--tutorial-epochs N] [--teacher-epochs N] [--subset N --test-subset N --out PATH] [--plan]

The tutorial's student architecture (267,738 parameters) throughout; each row adds one ingredient to the row before:

    augment                  cross-entropy, the tutorial's 10 epochs at Adam 1e-3, with random crops and flips
    schedule                 cross-entropy, the recipe's 30 epochs of OneCycle up to 3e-3, with crops and flips:
                             the plain student of `compare(recipe('strong'))`
    distil_strong            the recipe's method (DIST) against the recipe's teacher (the tutorial's teacher architecture,
                             30 epochs of OneCycle up to 2e-3 with crops and flips), running live on every augmented
                             batch: the distilled student of `compare(recipe('strong'))`
    distil_tutorial_teacher  the same, against the tutorial's teacher (10 epochs, constant lr, no augmentation): what the
                             stronger teacher adds
    kd_strong                instead of DIST, KD at the temperature and soft-target weight of the full-data sweep's best
                             cell (T = 2, weight 0.9; kd_sweep_cifar10.json) with KD's default label weight 0.75 (the
                             sweep's cell had 0.1), against the recipe's teacher running live: what the method adds
    kd_valid                 the same, at the cell chosen on a validation split instead of the test set (T = 1, soft
                             weight 0.75, label weight 0.25, as in the cell; kd_sweep_cifar10_valid.json)

The first row of the page's table, the tutorial's own student, is `"ce"` of nbs/results/methods_cifar10.json (same
seeds, same initial weights). Every row's student for seed S is one `kd_nb.students.train_student`: built right after
`seed_everything(S)`, so all rows start from the same weights, on a loader seeded with S. Both teachers come from
kd_nb's teacher cache (trained once, in the precision `auto` picks). The results, rewritten after every student, go to
nbs/results/recipe_cifar10.json in the layout of the other seeded files (`{row: {"acc": [...], "seeds": [...],
"seconds": [...], ...}, "teachers": {...}, ...}`; bench/seeded_runs.py does the bookkeeping); a second start skips the
(row, seed) pairs already there. The order: the cheap rows seed by seed, then each distilled row for two seeds, then
the rest. A quick check of the whole path:
`--subset 1000 --test-subset 500 --epochs 1 --tutorial-epochs 1 --teacher-epochs 1 --seeds 2 --out /tmp/r.json`.
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, data_dir_from, distiller, open_run, resolved, run_plan, student_builder
from kd_nb.core import get_device
from kd_nb.data import load_arrays, get_loaders
from kd_nb.models import count_params
from kd_nb.training import evaluate
from kd_nb.config import Config, RECIPES, recipe
from kd_nb.students import StudentPlan, train_student
from kd_nb.teachers import get_teacher, teacher_key

ROWS = ('augment', 'schedule', 'distil_strong', 'distil_tutorial_teacher', 'kd_strong', 'kd_valid')
R = RECIPES['strong']
KD_BEST = 'kd(temperature=2, weight=0.9)'   # the best cell's temperature and soft-target weight in kd_sweep_cifar10.json
KD_VALID = 'kd(temperature=1, weight=0.75)+ce(weight=0.25)'   # the cell chosen on validation in kd_sweep_cifar10_valid.json
TUTORIAL_TEACHER = 'tutorial'   # the tutorial's teacher's name in recipe_cifar10.json (settings' teacher_keys, teachers, rows):
                                # the key of its teacher in the committed file

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', default=','.join(ROWS), help=f"comma-separated rows to train (default: all): {', '.join(ROWS)}")
    p.add_argument('--seeds', type=int, default=3, help="seeds --first-seed, --first-seed + 1, ... (default: 3)")
    p.add_argument('--first-seed', type=int, default=42)
    p.add_argument('--epochs', type=int, default=R['epochs'], help=f"the recipe's epochs, for students and its teacher (default: {R['epochs']})")
    p.add_argument('--tutorial-epochs', '--seed-epochs', dest='tutorial_epochs', type=int, default=10,
                   help="epochs of the 'augment' row and of the tutorial's teacher (default: 10, the tutorial's; --seed-epochs is its earlier name)")
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
    for k in ('seeds', 'epochs', 'tutorial_epochs'):
        if getattr(a, k) < 1: p.error(f"--{k.replace('_', '-')} must be at least 1")
    if a.subset is not None and a.out is None: p.error("a --subset run must not write the committed results: give --out PATH")
    a.out = Path(a.out) if a.out else RESULTS/'recipe_cifar10.json'
    a.seed_list = list(range(a.first_seed, a.first_seed + a.seeds))
    return a

def configs(a) -> dict:
    "The two teachers' `Config`s: the recipe's and the tutorial's."
    sub = dict(subset=a.subset, test_subset=a.test_subset, precision=a.precision)
    te = lambda n: dict(teacher_epochs=a.teacher_epochs or n)
    return {'strong': recipe('strong', epochs=a.epochs, **te(a.epochs), **sub),
            TUTORIAL_TEACHER: Config(epochs=a.tutorial_epochs, **te(a.tutorial_epochs), **sub)}

def row_settings(a, row:str) -> dict:
    "How `row`'s student trains: epochs, lr, schedule, augmentation, and the method and teacher of distilled rows."
    if row == 'augment': return dict(epochs=a.tutorial_epochs, lr=1e-3, schedule=None, augment=True)
    base = dict(epochs=a.epochs, lr=R['lr'], schedule=R['schedule'], augment=True)
    if row == 'schedule': return base
    if row == 'kd_strong': return dict(base, method=KD_BEST, teacher='strong')
    if row == 'kd_valid': return dict(base, method=KD_VALID, teacher='strong')
    return dict(base, method=R['method'], teacher='strong' if row == 'distil_strong' else TUTORIAL_TEACHER)

def plan_for(a) -> list:
    """`(row, seed, its Distiller or None, {})`: the cheap rows seed by seed; then the distilled ones (about 15 min each on
    a 2-core CPU) for the first two seeds, row by row, so that an interrupted run has an interval for the recipe's
    student first; then the other seeds."""
    cheap = [r for r in a.row_list if r in ('augment', 'schedule')]
    kd = [r for r in a.row_list if r not in cheap]
    ds = {r: distiller(row_settings(a, r)['method']) for r in kd}
    pairs = ([(r, s) for s in a.seed_list for r in cheap] + [(r, s) for r in kd for s in a.seed_list[:2]]
             + [(r, s) for s in a.seed_list[2:] for r in kd])
    return [(r, s, ds.get(r), {}) for r, s in pairs]

class Recipe:
    "The data, the two teachers (from the cache or trained once), and a way to train one row's student for one seed."
    def __init__(self, a):
        self.a, self.device = a, get_device(a.device)
        self.prec = resolved(a.precision, self.device)
        self.data = load_arrays('cifar10', data_dir_from(a.data_dir), a.subset, a.test_subset)
        self.test_dl = get_loaders(self.data, 64, device=self.device, seed=0)[1]
        self.cfgs, self.new_student = configs(a), student_builder(self.data.info)
        self.teachers, self.teacher_info = {}, {}

    def settings(self) -> dict:
        "What must be equal for two results to be merged into one file."
        d = self.data
        return dict(dataset='cifar10', n_train=len(d.y_train), n_test=len(d.y_test), data=d.fingerprint(), precision=self.prec,
                    device=self.device.type, student='StudentModel', batch_size=64, optimizer='Adam', recipe=R, epochs=self.a.epochs,
                    tutorial_epochs=self.a.tutorial_epochs, teacher_keys={k: teacher_key(d, c, precision=self.prec) for k, c in self.cfgs.items()})

    def teacher(self, name:str):
        "The teacher `name` ('strong' or the tutorial's), from the cache or trained now; its test accuracy is measured once."
        if name not in self.teachers:
            cfg = self.cfgs[name]
            print(f"teacher '{name}': from the cache or trained now ({cfg.teacher_epochs_used} epochs)", flush=True)
            t, rec = get_teacher(self.data, cfg, self.a.cache_dir, device=self.device)
            self.teachers[name] = t.eval()
            self.teacher_info[name] = dict(acc=evaluate(t, self.test_dl, precision=self.prec)['acc'], seconds=rec['seconds'], reused=rec['reused'],
                                           key=rec.get('key'), epochs=cfg.teacher_epochs_used, history=rec.get('history'), params=count_params(t))
            print(f"teacher '{name}': {self.teacher_info[name]['acc']:.2f}% test accuracy", flush=True)
        return self.teachers[name]

    def student(self, row:str, seed:int, dist=None):
        "Train `row`'s student for `seed` with `train_student`; a distilled row's teacher runs live on every augmented batch."
        rs = row_settings(self.a, row)
        cfg = Config(epochs=rs['epochs'], lr=rs['lr'], schedule=rs['schedule'], augment=rs['augment'], batch_size=64,
                     subset=self.a.subset, test_subset=self.a.test_subset, precision=self.a.precision)
        teacher = None if dist is None else self.teacher(rs['teacher'])
        plan = StudentPlan(cfg, self.data, self.device, self.prec, self.test_dl, teacher, teacher_outputs=None, new_student=self.new_student, several=True)
        return train_student(plan, row, dist, seed)

    def record(self, res:dict):
        """The teachers' records in the results, once they have been used. A teacher already recorded with the same key and
        test accuracy (the same teacher, retrained on another machine or read from the cache) keeps its first record: the
        time it took is that of the run that trained it first."""
        for n, t in self.teacher_info.items():
            old = res.setdefault('teachers', {}).get(n)
            if not (old and old.get('key') == t['key'] and abs(old['acc'] - t['acc']) < 0.005): res['teachers'][n] = t

def main(argv=None):
    a = parse_args(argv)
    bench = Recipe(a); plan = plan_for(a)
    res = open_run(a, bench, plan, rows={r: row_settings(a, r) for r in ROWS})
    if res is None: return 0
    res = run_plan(bench, res, a.out, plan)
    print(f"Written to {a.out}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
