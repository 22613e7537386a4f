"""The patience curve on CIFAR-10: the tutorial's student alone and with function matching from the fast teacher, at
30, 100 and 200 epochs over seeds, and what the teacher, the stored views and the method add at 100 epochs; every
setting chosen on a validation split, the test set only reporting.

    python bench/patience_cifar10.py [--plan] [--only ARM,...] [--seeds 3] [--fast-teacher PATH] [--weak-teacher PATH]

Data: CIFAR-10's 50,000 training images less a validation split of 5,000 (`kd_nb.data.holdout`: stratified, seed 0),
so every student trains on 45,000; it is evaluated on the split after every epoch and at the end, and on the 10,000
test images at the end. The students are the tutorial's (267,738 parameters) with the patient recipe's schedule
(`kd_nb.config.RECIPES['patient']`: Adam, OneCycle up to 3e-3, batches of 64). For each seed every arm's student
is built right after `seed_everything(seed)` (the same initial weights) and gets a loader seeded with the seed: the
arms are paired. One student is one `kd_nb.students.train_student` of a `StudentPlan`, as in `compare`.

The arms (`--plan` lists them with what is done):
1. Choices, at `--candidate-epochs` (30) on the first seed, by validation accuracy: function matching (KL to the
   teacher alone, T = 1) through K in {K/4, K} stored views (`--views`, 16: one cache, `Views.first`), with and without
   mixup, and at T = 4; KD with a label term (T = 4, label weight 0.1 or 0.5). The best of each family is the setting
   of the arms below that use it (`chosen` in the file).
2. `alone_E` (the student alone, crops and flips drawn fresh every epoch) and `fm_E` (function matching from the fast
   teacher through the view cache, the chosen setting), for E in `--epochs` (30, 100, 200).
3. At `--ablation-epochs` (100): `alone_views_E` (the student alone on the same stored views: their variety without a
   teacher), `kd_E` (KD with the chosen label term), `dist_E`, `dkd_E` (their papers' settings, DKD with its warm-up) from
   the fast teacher on the same stored views, and `fm_weak_E` (function matching from `--weak-teacher`, the tutorial's
   teacher trained by the strong recipe, if given; else skipped).

The teachers are evaluated, not trained here: `--fast-teacher` is a state_dict of airbench94 (default: the teacher
cache's seed-42 fast teacher, `bench/fast_teacher.py`, or where the cache lacks it the committed copy of its weights,
nbs/results/fast_teacher_cifar10_seed42.safetensors), trained on all 50,000 training images, so it has seen the
validation images (the students have not). That leans the choices towards the teacher: a setting that follows it more
closely scores a little better on validation than it would on new images. A teacher trained on the 45,000 alone
would remove that (about 75 minutes here). A teacher whose weights differ from those the file's arms learned from (its
`teachers`) stops the run before any student trains, rather than mixing two teachers in one file. Each teacher's
view cache (`kd_nb.views.view_cache`) is built once in `--cache-dir` and reused.

Results go to nbs/results/patience_cifar10.json (`--out`), rewritten after every student (`bench/seeded_runs.py`'s
bookkeeping: per arm `acc`, `valid_acc`, `seeds`, `seconds`, `history`, and its settings); a new start skips what is
there. A student checkpoints after every epoch in `--work-dir`, so a stop (SIGTERM) or a kill loses at most an epoch.
A check of the whole path on a few images: `--subset 600 --valid 100 --test-subset 200 --epochs 1,2 --ablation-epochs 2
--candidate-epochs 1 --views 4 --seeds 2 --fast-teacher T.pt --out /tmp/p.json --work-dir /tmp/p`.
"""
from __future__ import annotations
import argparse, functools, json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, SHARED_DATA, data_dir_from, fail, has_run, load_results, resolved, run_plan, save_results, start_session, student_builder
from fast_teacher import column
from kd_nb.core import get_device
from kd_nb.data import load_arrays, get_loaders, holdout
from kd_nb.models import count_params
from kd_nb.methods import parse_methods
from kd_nb.training import evaluate, TrainingStopped
from kd_nb.config import RECIPES, Config, view_spec
from kd_nb.students import StudentPlan, train_student
from kd_nb.teachers import default_cache_dir, load_teacher, teacher_key
from kd_nb.views import view_cache, weights_fingerprint

OUT = RESULTS/'patience_cifar10.json'
COMMITTED_FAST = RESULTS/'fast_teacher_cifar10_seed42.safetensors'   # `bench/fast_teacher.py`'s seed 42: the fast teacher of the committed file

def committed_fast_name() -> str|None:
    "The teacher cache's name for the committed seed-42 fast teacher (`bench/fast_teacher.py`'s file says its key); None without its weights."
    try: ft = json.loads((RESULTS/'fast_teacher_cifar10.json').read_text())
    except (OSError, ValueError): return None
    w = dict(zip(ft.get('seeds', []), column(ft, 'weights')))   # the weights column, by seed (None for a seed without kept weights)
    if not w.get(42) or not COMMITTED_FAST.is_file(): return None
    return f"teacher-{ft['teacher_keys'][ft['seeds'].index(42)]}.pt"
FM = 'kd(temperature={t}, weight=1.0)+ce(weight=0.0)'   # function matching: KL to the teacher's outputs alone
KD_LABEL = 'kd(temperature=4.0, weight={w})+ce(weight={c})'
P = RECIPES['patient']

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, default=3, help="seeds per arm: --first-seed, --first-seed + 1, ... (default: 3)")
    p.add_argument('--first-seed', type=int, default=42, help="(default: 42)")
    p.add_argument('--epochs', default='30,100,200', help="the curve's lengths E, comma-separated (default: 30,100,200)")
    p.add_argument('--ablation-epochs', type=int, default=100, help="E of the teacher, views and method arms (default: 100)")
    p.add_argument('--candidate-epochs', type=int, default=30, help="E of the validation choices, on the first seed (default: 30)")
    p.add_argument('--views', type=int, default=16, help="K, the stored views per image of the cache (default: 16); K/4 is tried too")
    p.add_argument('--valid', type=int, default=5000, help="training images held out for validation (default: 5000)")
    p.add_argument('--only', default=None, help="run only these arms (comma-separated names, as --plan prints them)")
    p.add_argument('--fast-teacher', default=None, help="airbench94's state_dict (default: the teacher cache's seed-42 fast teacher, else its committed copy in nbs/results)")
    p.add_argument('--weak-teacher', default=None, help="the tutorial teacher's state_dict, trained by the strong recipe (default: none, its arm is skipped)")
    p.add_argument('--subset', type=int, default=None, help="training images used before the split (default: all 50,000); needs --out")
    p.add_argument('--test-subset', type=int, default=None, help="test images used (default: all 10,000)")
    p.add_argument('--precision', default='auto', help="auto, fp32, bf16 or fp16 (default: auto)")
    p.add_argument('--out', default=None, help=f"the results JSON (default: nbs/results/{OUT.name})")
    p.add_argument('--work-dir', default=None, help="the students' checkpoints (default: <cache-dir>/patience)")
    p.add_argument('--data-dir', default=None, help=f"folder with cifar10.npz (default: $KD_NB_DATA, else {SHARED_DATA} if it exists)")
    p.add_argument('--cache-dir', default=None, help="the teacher and view caches (default: $KD_NB_CACHE or ~/.cache/kd_nb/teachers)")
    p.add_argument('--device', default=None)
    p.add_argument('--plan', action='store_true', help="print the arms, what is done and what is chosen, and exit")
    p.add_argument('--verbose', action='store_true', help="progress bars and per-epoch lines")
    a = p.parse_args(argv)
    try: a.curve = [int(e) for e in a.epochs.split(',')]
    except ValueError: fail(f"--epochs must be comma-separated whole numbers, got {a.epochs!r}")
    for k in ('seeds', 'ablation_epochs', 'candidate_epochs', 'views', 'valid'):
        if getattr(a, k) < 1: fail(f"--{k.replace('_', '-')} must be at least 1")
    if min(a.curve) < 1: fail("--epochs must be at least 1")
    if not 4 <= a.views <= 255: fail(f"--views must be from 4 to 255, got {a.views}")
    if a.subset is not None and a.out is None: fail("a --subset run must not write the committed results: give --out PATH")
    a.out, a.seed_list = Path(a.out) if a.out else OUT, list(range(a.first_seed, a.first_seed + a.seeds))
    a.cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    a.work = Path(a.work_dir) if a.work_dir else a.cache/'patience'
    return a

# ---------------------------------------------------------------- the arms
def arm(epochs:int, teacher:str|None=None, views:int=0, mixup:bool=False, method:str|None=None, family:str|None=None) -> dict:
    "One arm's settings: its length, its teacher ('fast', 'weak' or None), its stored views (0: fresh crops and flips), its loss."
    return dict(epochs=epochs, teacher=teacher, views=views, mixup=mixup, method=method, family=family)

def candidates(a) -> dict:
    "The validation choices: function matching's K, mixup and T; KD's label weight."
    E, K = a.candidate_epochs, a.views
    return {f'val_fm_k{K}': arm(E, 'fast', K, True, FM.format(t=1.0), 'fm'), f'val_fm_k{K // 4}': arm(E, 'fast', K // 4, True, FM.format(t=1.0), 'fm'),
            f'val_fm_k{K}_t4': arm(E, 'fast', K, True, FM.format(t=4.0), 'fm'),
            'val_kd_ce01': arm(E, 'fast', K, True, KD_LABEL.format(w=0.9, c=0.1), 'kd'), 'val_kd_ce05': arm(E, 'fast', K, True, KD_LABEL.format(w=0.5, c=0.5), 'kd'),
            f'val_fm_k{K}_nomix': arm(E, 'fast', K, False, FM.format(t=1.0), 'fm')}   # last: it needs a second cache

def chosen(res:dict, cands:dict, seed:int) -> dict:
    "Each family's best candidate by validation accuracy on `seed` (its name), once all of the family's have run."
    out, va = {}, lambda n: res[n]['valid_acc'][res[n]['seeds'].index(seed)]
    for fam in ('fm', 'kd'):
        names = [n for n, c in cands.items() if c['family'] == fam]
        if all(has_run(res, n, seed) for n in names): out[fam] = max(names, key=va)
    return out

def main_arms(a, cands:dict, pick:dict) -> dict:
    "The curve and the ablations; an arm whose setting is not chosen yet is left out (it runs after the choices)."
    out, fm, kd = {}, cands.get(pick.get('fm')), cands.get(pick.get('kd'))
    for E in a.curve:
        out[f'alone_{E}'] = arm(E)
        if fm: out[f'fm_{E}'] = dict(fm, epochs=E, family=None)
    E = a.ablation_epochs
    if fm:
        out[f'alone_views_{E}'] = arm(E, None, fm['views'], fm['mixup'])
        for name, spec in (('kd', kd and kd['method']), ('dist', 'dist'), ('dkd', 'dkd')):
            if spec: out[f'{name}_{E}'] = arm(E, 'fast', fm['views'], fm['mixup'], spec)
        if a.weak_teacher: out[f'fm_weak_{E}'] = dict(fm, epochs=E, teacher='weak', family=None)
    return out

# ---------------------------------------------------------------- data, teachers, views, students
def trained_as(path:Path) -> dict|None:
    "How a teacher from kd_nb's teacher cache was trained, from the record beside its weights (`get_teacher`): None for weights from elsewhere."
    try: rec = json.loads(path.with_suffix('.json').read_text())
    except (OSError, ValueError): return None
    c = rec.get('config') or {}
    return dict(key=rec.get('key'), precision=rec.get('precision'), seconds=rec.get('seconds'), epochs=c.get('teacher_epochs'),
                recipe=c.get('teacher_recipe'), schedule=c.get('schedule'), augment=c.get('augment'), lr=c.get('teacher_lr') or c.get('lr'),
                data=rec.get('data'))

class Patience:
    "The split data, the teachers (loaded once), their view caches (built once), and one student of one arm for one seed."
    def __init__(self, a):
        self.a, self.device = a, get_device(a.device); self.prec = resolved(a.precision, self.device)
        self.full = load_arrays('cifar10', data_dir_from(a.data_dir), a.subset, a.test_subset)   # the fast teacher's cache key is of all of it
        self.data = holdout(self.full, a.valid)
        self.train_dl, self.valid_dl, self.test_dl = get_loaders(self.data, Config(**P).batch_size, device=self.device, seed=0, valid=True)
        self.new_student = student_builder(self.data.info)
        self._teachers, self._views, self.teacher_info, self.views_info = {}, {}, {}, {}
        self.finished = None   # the last student's checkpoint: deleted once its result is saved (at the next student, or the end)
        self.expected = {}     # the results file's teachers: a teacher whose weights differ from those stops the run

    def teacher_path(self, which:str) -> Path:
        if which == 'weak': return Path(self.a.weak_teacher)
        if self.a.fast_teacher: return Path(self.a.fast_teacher)
        cached = self.a.cache/self.fast_name
        if cached.is_file() or self.fast_name != committed_fast_name(): return cached
        return COMMITTED_FAST   # the same teacher (its key: the same data, recipe, seed and precision), its weights committed: a new machine reads them

    @functools.cached_property   # the key hashes the training images: once
    def fast_name(self) -> str:
        "The fast teacher's name in the settings: its file in kd_nb's teacher cache (the committed copy of it has the same weights), or `--fast-teacher`'s."
        if self.a.fast_teacher: return Path(self.a.fast_teacher).name
        return f"teacher-{teacher_key(self.full, Config(teacher_arch='airbench94', seed=42, precision=self.prec), precision=self.prec)}.pt"

    def settings(self) -> dict:
        "What must be equal for two results to be merged into one file."
        d = self.data
        return dict(dataset='cifar10', n_train=len(d.y_train), n_valid=len(d.y_valid), valid_seed=d.valid_seed, n_test=len(d.y_test),
                    data=d.fingerprint(), batch_size=self.train_dl.bs, optimizer='Adam', lr=P['lr'], schedule=P['schedule'],
                    precision=self.prec, device=self.device.type, student='StudentModel', fast_teacher=self.fast_name)

    def teacher(self, which:str):
        "The teacher `which` ('fast': airbench94, 'weak': the tutorial's), loaded once; its test and validation accuracy measured once."
        if which not in self._teachers:
            path = self.teacher_path(which)
            if not path.is_file(): fail(f"the {which} teacher's weights {path} are not there: train it (bench/fast_teacher.py) or give --{which}-teacher PATH")
            t = load_teacher(path, 'airbench94' if which == 'fast' else 'teacher', self.data.info).to(self.device).eval()
            self._teachers[which] = t
            self.teacher_info[which] = dict(file=path.name, weights=weights_fingerprint(t), params=count_params(t),
                                            test_acc=evaluate(t, self.test_dl, precision=self.prec)['acc'],
                                            valid_acc=evaluate(t, self.valid_dl, precision=self.prec)['acc'], trained=trained_as(path))
            print(f"{which} teacher {path.name}: {self.teacher_info[which]['test_acc']:.2f}% test, {self.teacher_info[which]['valid_acc']:.2f}% validation "
                  "(it trained on the validation images)", flush=True)
            old, new = self.expected.get(which, {}).get('weights'), self.teacher_info[which]['weights']
            if old and old != new:
                fail(f"the {which} teacher {path} has weights {new}, but the arms in {self.a.out} learned from weights {old}: the same "
                     "recipe and seed retrained on other CPU kernels gives another teacher (the file's `hardware` says which kernels; "
                     "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 reproduces an AVX2 machine's fp32 runs). Give the original "
                     f"weights with --{which}-teacher, or another --out")
        return self._teachers[which]

    def views(self, which:str, k:int, mixup:bool):
        "The first `k` of the `--views` stored views of every training image, with teacher `which`'s logits: one cache per teacher and mixup."
        key = (which, mixup)
        if key not in self._views:
            cfg = Config(views=self.a.views, mixup=mixup, seed=42)   # `compare`'s view spec: the same cache as a patient comparison's
            v, rec = view_cache(self.teacher(which), self.train_dl, view_spec(cfg), self.a.cache, self.prec, self.device)
            self._views[key] = v
            self.views_info[f"{which}{'_mixup' if mixup else ''}"] = {k_: rec[k_] for k_ in ('key', 'spec', 'n', 'nbytes', 'seconds', 'precision', 'reused')}
        return self._views[key].first(k)

    def tidy(self):
        "Delete the checkpoint of the student whose result is now in the file."
        if self.finished is not None and self.finished.exists(): self.finished.unlink()
        self.finished = None

    def student(self, key:str, seed:int, s:dict):
        "Train arm `key`'s student for `seed`: checkpointed after every epoch in the work folder, resumed from there."
        self.tidy()   # the previous student's result was saved before this call
        views = self.views(s['teacher'] or 'fast', s['views'], s['mixup']) if s['views'] else None
        cfg = Config(epochs=s['epochs'], lr=P['lr'], schedule=P['schedule'], augment=not s['views'], seed=seed, precision=self.prec)
        teacher = self.teacher(s['teacher']) if s['teacher'] else None
        plan = StudentPlan(cfg, self.data, self.device, self.prec, self.test_dl, teacher, teacher_outputs=None, new_student=self.new_student, several=True,
                           quiet=not self.a.verbose, resume=True, out=self.a.work/key, views=views, valid_dl=self.valid_dl)
        run = train_student(plan, key, parse_methods(s['method'])[0] if s['method'] else None, seed)
        self.finished = plan.checkpoint(key, seed)   # kept until the result is saved: a kill before that resumes from it
        return run

    def record(self, res:dict):
        # a teacher already in the file with the same weights keeps its record, with how it was first trained
        old = res.get('teachers', {})
        res['teachers'] = {**old, **{k: old[k] if old.get(k, {}).get('weights') == v['weights'] else v for k, v in self.teacher_info.items()}}
        res['views'] = {**res.get('views', {}), **self.views_info}

# ---------------------------------------------------------------- the plan
def meta(s:dict) -> dict:
    "What the file records of an arm: its settings, and the method's own (`Distiller.settings`)."
    return dict(s, method_settings=parse_methods(s['method'])[0].settings() if s['method'] else None)

def check_meta(res:dict, arms:dict):
    "An arm in the file with other settings than this run's stops the run, rather than mixing."
    for name, s in arms.items():
        if name in res:
            old = {k: res[name].get(k) for k in meta(s)}
            if old != meta(s): fail(f"{name} in the results file has other settings ({old}) than this run's ({meta(s)}): move the file away or give another --out")

def plan_of(a, arms:dict) -> list:
    only = None if a.only is None else set(a.only.split(','))
    return [(n, seed, s, meta(s)) for n, s in arms.items() if only is None or n in only
            for seed in (a.seed_list[:1] if n.startswith('val_') else a.seed_list) if not (s['teacher'] == 'weak' and not a.weak_teacher)]

def check_teachers(b:Patience, res:dict, plan:list):
    "Load now every teacher a run still to do needs (the stored views' too): a missing or different one stops the run before any student trains."
    for w in sorted({s['teacher'] or 'fast' for n, seed, s, _ in plan if (s['teacher'] or s['views']) and not has_run(res, n, seed)}): b.teacher(w)

def show_plan(a, res:dict, arms:dict, pick:dict):
    print(f"{a.out}: chosen on validation: {pick or 'nothing yet'}")
    for n, seed, s, _ in plan_of(a, arms):
        r = res.get(n, {}); done = has_run(res, n, seed)
        va = f", {r['valid_acc'][r['seeds'].index(seed)]:.2f}% validation, {r['acc'][r['seeds'].index(seed)]:.2f}% test" if done else ''
        print(f"  {n} seed {seed} ({s['epochs']} epochs): {'done' + va if done else 'to do'}")

def main(argv=None):
    a = parse_args(argv); b = Patience(a); t0 = time.perf_counter()
    res = load_results(a.out, b.settings()); cands = candidates(a)
    check_meta(res, cands)
    pick = chosen(res, cands, a.seed_list[0]); arms = {**cands, **main_arms(a, cands, pick)}
    if a.plan: show_plan(a, res, arms, pick); return res
    asked = [*plan_of(a, cands), *plan_of(a, arms)]
    if all(has_run(res, n, seed) for n, seed, _, _ in asked):   # the file records no session of a run that trains nothing
        print(f"all {len(asked)} runs asked for are in {a.out} already: nothing to do"); return res
    start_session(res); res['description'] = __doc__.split('\n\n')[0]; b.expected = res.get('teachers', {})
    try:
        check_teachers(b, res, plan_of(a, cands)); run_plan(b, res, a.out, plan_of(a, cands))   # the choices first: the other arms use them
        res['chosen'] = pick = chosen(res, cands, a.seed_list[0]); arms = main_arms(a, cands, pick); check_meta(res, arms)
        res['arms'] = list({**cands, **arms})
        save_results(a.out, res)
        check_teachers(b, res, plan_of(a, arms)); run_plan(b, res, a.out, plan_of(a, arms))
    except TrainingStopped as e: print(e); sys.exit(e.exit_status)
    b.tidy()
    print(f"done in {time.perf_counter() - t0:.0f} s; chosen on validation: {pick}")
    return res

if __name__ == '__main__': main()
