"""Students over seeds against one teacher, appended to a JSON file after every run: the plan of runs, resuming and the
results file, shared by bench/methods_cifar10.py (every distillation method), bench/kd_sweep.py (KD's temperature ×
soft-target weight), bench/tutorial_variants.py (the tutorial's two variants) and bench/recipe_cifar10.py (the recipe's
ingredients).

The training itself is kd_nb's: each student is one `kd_nb.students.train_student` of a `StudentPlan`, as in `compare`.
For each seed, every student (the plain cross-entropy one and one per method or setting) is built right after
`seed_everything(seed)`, so all start from the same initial weights and the same random stream (dropout), and each gets
its own training loader seeded with `seed`, so all see the same batches in the same order. `Bench`'s teacher is the
tutorial's, from `kd_nb.teachers.get_teacher` (trained once, then reused from the teacher cache), and its outputs for the
training images are computed once and handed to every distilled student (`teacher_outputs`); the recipe's script has a
`Recipe` of its own (two teachers, running live on augmented batches) with the same two methods, `student` and `record`.

The JSON is rewritten (atomically) after every student, so a killed run loses at most the student in progress, and a
new start skips the (model, seed) pairs already there. A file made with other settings (epochs, data, precision, ...)
is refused rather than mixed.

With `--valid N`, N training images (`kd_nb.data.holdout`: stratified, seed 0) are held out: the teacher and every
student train on the rest, and every student is also scored on them (`valid_acc`), so that a setting can be chosen on
validation and only reported on the test set. Such a run writes its own file (`<name>_valid.json` by default): its
teacher and students saw fewer images than the full-data file's.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
from kd_nb.core import get_device, seed_everything, hardware_info, resolve_precision, atomic_write
from kd_nb.data import load_arrays, get_loaders, get_data_dir, holdout
from kd_nb.models import StudentModel, count_params, models_for
from kd_nb.methods import parse_methods
from kd_nb.training import evaluate
from kd_nb.teacher_outputs import teacher_logits, teacher_features
from kd_nb.config import Config
from kd_nb.students import StudentPlan, train_student
from kd_nb.teachers import get_teacher, teacher_key
from kd_nb.stats import machine_of

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO/'nbs'/'results'
SHARED_DATA = REPO.parent/'shared'/'data'/'cifar10'   # the CI layout: ../shared beside the checkout

def data_dir_from(arg):
    "The folder with cifar10.npz: --data-dir, else $KD_NB_DATA, else ../shared/data/cifar10 if there, else kd_nb's default."
    if arg: return Path(arg)
    if os.environ.get('KD_NB_DATA'): return Path(os.environ['KD_NB_DATA'])
    return SHARED_DATA if SHARED_DATA.exists() else get_data_dir(None)

def base_parser(description:str, default_out:Path, default_seeds:int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--seeds', type=int, default=default_seeds,
                   help=f"number of seeds: --first-seed, --first-seed + 1, ... (default: {default_seeds})")
    p.add_argument('--first-seed', type=int, default=42, help="the first seed (default: 42, the tutorial's)")
    p.add_argument('--epochs', type=int, default=10, help="epochs of each student (default: 10, the tutorial's)")
    p.add_argument('--subset', type=int, default=None, help="training images used, a fixed random sample (default: all 50000); needs --out")
    p.add_argument('--test-subset', type=int, default=None, help="test images used (default: all 10000)")
    p.add_argument('--valid', type=int, default=None,
                   help="training images held out for choosing settings, stratified, seed 0 (default: none); the results go to <name>_valid.json unless --out")
    p.add_argument('--precision', default='auto', help="auto, fp32, bf16 or fp16, for every student and the teacher's pass (default: auto)")
    p.add_argument('--out', default=None, help=f"the results JSON (default: {default_out.relative_to(REPO)})")
    p.add_argument('--data-dir', default=None, help=f"folder with cifar10.npz (default: $KD_NB_DATA, else {SHARED_DATA} if it exists)")
    p.add_argument('--cache-dir', default=None, help="the teacher cache (default: $KD_NB_CACHE or ~/.cache/kd_nb/teachers)")
    p.add_argument('--teacher-epochs', type=int, default=10, help="the teacher's epochs (default: 10, the tutorial's); trained once, then cached")
    p.add_argument('--teacher-precision', default=None,
                   help="the precision the teacher is trained in (default: --precision's); fp32 reuses a teacher cached before mixed precision")
    p.add_argument('--batch-size', type=int, default=64, help="(default: 64, the tutorial's)")
    p.add_argument('--lr', type=float, default=1e-3, help="Adam's learning rate (default: 1e-3, the tutorial's)")
    p.add_argument('--device', default=None, help="default: the accelerator if there is one, else the CPU")
    p.add_argument('--plan', action='store_true', help="print the runs still to do and exit")
    p.add_argument('--verbose', action='store_true', help="progress bars and per-epoch lines")
    p.set_defaults(default_out=default_out)
    return p

def check_args(p, a):
    for k in ('seeds', 'epochs', 'teacher_epochs', 'batch_size'):
        if getattr(a, k) < 1: p.error(f"--{k.replace('_', '-')} must be at least 1, got {getattr(a, k)}")
    for k in ('subset', 'test_subset', 'valid'):
        if getattr(a, k) is not None and getattr(a, k) < 1: p.error(f"--{k.replace('_', '-')} must be at least 1")
    if a.subset is not None and a.out is None:
        p.error("a --subset run must not write the committed results: give --out PATH (for example /tmp/check.json)")
    d = a.default_out
    a.out = Path(a.out) if a.out else d.with_name(f"{d.stem}_valid{d.suffix}") if a.valid else d
    a.seed_list = list(range(a.first_seed, a.first_seed + a.seeds))
    return a

def fail(msg:str):
    "Stop with `msg` on standard error and exit status 2, as argparse does for bad arguments."
    print(f"{Path(sys.argv[0]).name}: error: {msg}", file=sys.stderr); sys.exit(2)

def resolved(precision:str, device) -> str:
    "`precision` as kd_nb resolves it on `device`; one it cannot run there stops the script."
    try: return resolve_precision(precision, device)
    except ValueError as e: fail(str(e))

# ---------------------------------------------------------------- what the files record of a method
def distiller(spec:str):
    "The one `Distiller` of a method spec, such as 'kd', 'fitnet' or 'kd(temperature=4.0, weight=0.9)+ce(weight=0.1)'."
    return parse_methods(spec)[0]

def kd_meta(spec:str) -> dict:
    "A KD student's settings, as the results files record them: the tutorial's names for KD's temperature and two weights."
    d = distiller(spec); kd = d.terms[0]
    return dict(temperature=kd.temperature, soft_target_loss_weight=kd.weight, ce_loss_weight=d.ce_weight)

# ---------------------------------------------------------------- the results file
def load_results(path:Path, settings:dict) -> dict:
    "The results so far, if `path` exists and was made with `settings`; else a new dict. Different settings stop the run."
    if not path.exists(): return dict(settings=settings)
    try: res = json.loads(path.read_text())
    except json.JSONDecodeError as e: fail(f"{path} is not valid JSON ({e}); move it away to start afresh")
    diff = {k: (res.get('settings', {}).get(k), v) for k, v in settings.items() if res.get('settings', {}).get(k) != v}
    if diff:
        lines = '; '.join(f"{k}: file {a!r}, this run {b!r}" for k, (a, b) in sorted(diff.items()))
        fail(f"{path} holds results made with other settings ({lines}). Use another --out, or move the file away")
    return record_machines(res)

def record_machines(res:dict) -> dict:
    """Give every entry of `res` its `machine` column, from the hardware of the session each run finished in (the file's first
    `hardware` for runs recorded before sessions were kept) and the file's precision. Files written before runs recorded their machine
    get it when a bench next opens them; a column already there is kept."""
    if not res.get('sessions'): return res
    for e in res.values():
        if isinstance(e, dict) and 'acc' in e and isinstance(e.get('seeds'), list) and 'machine' not in e:
            e['machine'] = [session_machine(res, i) for i in e.get('session') or [None] * len(e['seeds'])]
    return res

def session_machine(res:dict, i:int|None=-1) -> str:
    "The machine (`kd_nb.stats.machine_of`) of session `i` of `res` at the file's precision; None: the file's first `hardware`."
    return machine_of(res['sessions'][i]['hardware'] if i is not None else res.get('hardware'), res.get('settings', {}).get('precision'))

def compare_epochs(old:list, new:list, skip=('seconds',)) -> tuple:
    """(identical, rows): a re-run's per-epoch history `new` against the same epochs of `old`, every number both record but those in
    `skip` (what differs between identical runs: the time), side by side; identical when every one is equal and `new` is not empty."""
    rows, same = [], True
    for a, b in zip(old, new):
        keys = sorted(k for k in set(a) & set(b) if k not in skip and isinstance(a[k], (int, float)))
        rows.append({k: [a[k], b[k]] for k in keys})
        same &= all(a[k] == b[k] for k in keys)
    return same and len(new) > 0, rows

def save_results(path:Path, res:dict):
    "Write `res` whole (`kd_nb.core.atomic_write`): a failed write names the file and leaves the previous one."
    atomic_write(path, lambda t: t.write_text(json.dumps(res, indent=1)), 'the results')

def has_run(res:dict, key:str, seed:int) -> bool: return key in res and seed in res[key]['seeds']

OPTIONAL = ('valid_acc', 'session', 'teacher_outputs', 'machine')   # columns of an entry that older files lack

def add_run(res:dict, key:str, run, meta:dict|None=None):
    """Append one student's result (a `StudentRun`) to `res[key]`, kept in seed order; with a validation split, its `valid_acc` too,
    and with sessions, `session`: the index in `res['sessions']` of the one it finished in, whose `hardware` its `seconds` were measured on
    (None for a run recorded before this was kept), and `machine` (`kd_nb.stats.machine_of` that hardware and the precision: the
    statistics pair only runs of one machine, or of machines a reproduction record links); and for a distilled student
    `teacher_outputs`, the fingerprint of what it learnt from."""
    e = res.setdefault(key, dict(meta or {}, acc=[], seeds=[], seconds=[], train_loss=[], history=[]))
    new = dict(seeds=run.seed, acc=run.acc, seconds=run.seconds, train_loss=run.history[-1]['train_loss'] if run.history else None,
               history=run.history, valid_acc=getattr(run, 'valid_acc', None), session=len(res['sessions']) - 1 if res.get('sessions') else None,
               teacher_outputs=getattr(run, 'teacher_outputs', None),   # a distilled student's: what it learnt from (`kd_nb.views.outputs_fingerprint`)
               machine=session_machine(res) if res.get('sessions') else None)
    add_row(e, new)

def add_row(e:dict, new:dict, optional=OPTIONAL):
    """Add one seed's values `new` (a dict of column: value, `seeds` first) to the columns of `e`, keeping them in seed order. A column
    in `optional` that `e` lacks is added (None for the seeds before) only when `new` has a value for it."""
    n = len(e.get('seeds', []))
    cols = [k for k in new if k not in optional or k in e or new[k] is not None]
    rows = sorted([*zip(*(e.get(k, [None] * n) for k in cols)), tuple(new[k] for k in cols)], key=lambda r: r[0])
    for i, k in enumerate(cols): e[k] = [r[i] for r in rows]

def start_session(res:dict) -> dict:
    "Record this session's hardware and command line in `res` (the first session's hardware is `res['hardware']`)."
    hw = hardware_info()
    res.setdefault('hardware', hw)
    res.setdefault('sessions', []).append(dict(started=time.strftime('%Y-%m-%d %H:%M:%S'), hardware=hw, argv=sys.argv[1:]))
    return res

def run_plan(bench, res:dict, path:Path, plan:list):
    """Run `plan`, a list of `(key, seed, what, meta)`, skipping the pairs already in `res`: `bench.student(key, seed, what)`
    trains one (a `StudentRun`), `bench.record(res)` adds what the bench knows of its teachers; the file is saved after each.
    Prints one line per student with the time it took and an estimate of the time left."""
    todo = [p for p in plan if not has_run(res, p[0], p[1])]
    print(f"{len(plan) - len(todo)} of {len(plan)} runs already in {path}; {len(todo)} to do", flush=True)
    times, before, t_start = [], res.get('seconds_total', 0), time.perf_counter()
    for i, (key, seed, what, meta) in enumerate(todo, 1):
        run = bench.student(key, seed, what)
        add_run(res, key, run, meta)
        bench.record(res)
        res['seconds_total'] = before + time.perf_counter() - t_start   # over all sessions of this file
        save_results(path, res)
        times.append(run.seconds)
        left = (len(todo) - i) * sum(times) / len(times)
        print(f"[{i}/{len(todo)}] {key} seed {seed}: {run.acc:.2f}% in {run.seconds:.1f} s; about {left/60:.0f} min left", flush=True)
    return res

def open_run(a, bench, plan:list, **record) -> dict|None:
    """The opening every seeded script shares: the results file, refused if its settings differ from `bench.settings()`,
    and what of `plan` is still to do. With `--plan`, print that and return None; else start a session in the file,
    set the data's size and `record` in it, and return the results."""
    settings = bench.settings()
    res = load_results(a.out, settings)
    todo = [f"{k} seed {s}" for k, s, _, _ in plan if not has_run(res, k, s)]
    if a.plan:
        print(f"{len(plan) - len(todo)} of {len(plan)} runs done, {len(todo)} to do (into {a.out})")
        for t in todo: print(f"  {t}")
        return None
    start_session(res)
    res.update(record, n_train=settings['n_train'], n_test=settings['n_test'])
    return res

# ---------------------------------------------------------------- data, teacher, students
def student_builder(info):
    "`new(seed)`: the tutorial's student for data of `info`, built right after `seed_everything(seed)`."
    def new(seed:int):
        seed_everything(seed); return StudentModel(**models_for(info))
    return new

class Bench:
    "The data, the tutorial's teacher and its outputs (computed once), and a way to train one student for one seed."
    def __init__(self, a):
        self.a, self.device = a, get_device(a.device)
        self.prec, self.tprec = resolved(a.precision, self.device), resolved(a.teacher_precision or a.precision, self.device)
        self.data = load_arrays('cifar10', data_dir_from(a.data_dir), a.subset, a.test_subset)
        if a.valid:
            try: self.data = holdout(self.data, a.valid)
            except ValueError as e: fail(f"--valid: {e}")
        dls = get_loaders(self.data, a.batch_size, device=self.device, seed=0, valid=bool(a.valid))
        self.test_dl, self.valid_dl = dls[-1], (dls[1] if a.valid else None)
        sub = dict(dataset='cifar10', lr=a.lr, batch_size=a.batch_size, subset=a.subset, test_subset=a.test_subset)
        self.tcfg = Config(epochs=a.teacher_epochs, seed=42, precision=a.teacher_precision or a.precision, **sub)
        self.cfg = Config(epochs=a.epochs, precision=a.precision, **sub)   # the students'
        self.new_student = student_builder(self.data.info)
        self._teacher, self._outputs, self.teacher_info = None, {}, {}

    def settings(self) -> dict:
        "What must be equal for two results to be merged into one file."
        a = self.a
        return dict(dataset='cifar10', n_train=len(self.data.y_train), n_test=len(self.data.y_test), data=self.data.fingerprint(),
                    epochs=a.epochs, batch_size=a.batch_size, optimizer='Adam', lr=a.lr, precision=self.prec, device=self.device.type,
                    teacher_key=teacher_key(self.data, self.tcfg, precision=self.tprec), teacher_epochs=a.teacher_epochs,
                    teacher_precision=self.tprec, student='StudentModel', teacher='TeacherModel',
                    **(dict(n_valid=len(self.data.y_valid), valid_seed=self.data.valid_seed) if self.a.valid else {}))

    def teacher(self):
        "The tutorial's teacher, from the cache or trained once (and cached); its test accuracy is measured once."
        if self._teacher is None:
            t, rec = get_teacher(self.data, self.tcfg, self.a.cache_dir, device=self.device, quiet=not self.a.verbose)
            self._teacher = t.eval()
            self.teacher_info = dict(epochs=self.a.teacher_epochs, reused=rec['reused'], path=rec['path'], train_seconds=rec['seconds'],
                                     test_acc=evaluate(t, self.test_dl, precision=self.prec)['acc'], params=count_params(t))
            print(f"teacher: {self.teacher_info['test_acc']:.2f}% test accuracy ({'reused from' if rec['reused'] else 'trained and cached in'} "
                  f"{rec['path']})", flush=True)
        return self._teacher

    def outputs(self, layers=()):
        "The teacher's logits and, if `layers` are named, their outputs (`teacher_features`), for the training images, once per set of layers."
        key = tuple(sorted(layers))
        if key not in self._outputs:
            t0 = time.perf_counter()
            dl = get_loaders(self.data, self.a.batch_size, device=self.device, seed=0)[0]
            if key: self._outputs[key] = teacher_features(self.teacher(), dl, list(key), self.device, self.prec)
            else: self._outputs[key] = teacher_logits(self.teacher(), dl, self.device, self.prec)
            sec = time.perf_counter() - t0
            if key: print(f"teacher: logits and the outputs of {', '.join(key)} for {dl.n} training images in {sec:.1f} s", flush=True)
            else:
                self.teacher_info['logits_seconds'] = sec
                print(f"teacher: logits of {dl.n} training images in {sec:.1f} s", flush=True)
        return self._outputs[key]

    def student(self, key:str, seed:int, dist=None):
        "Train `key`'s student for `seed` with `train_student`: cross-entropy if `dist` is None, else that `Distiller` against the teacher's outputs."
        teacher, outputs = (None, None) if dist is None else (self.teacher(), self.outputs(dist.teacher_layers))
        plan = StudentPlan(self.cfg, self.data, self.device, self.prec, self.test_dl, teacher, teacher_outputs=outputs, new_student=self.new_student,
                           several=True, quiet=not self.a.verbose, valid_dl=self.valid_dl)
        return train_student(plan, key, dist, seed)

    def record(self, res:dict):
        "The teacher's record in the results, once it has been used."
        if self._teacher is not None: res['teacher'] = self.teacher_info
