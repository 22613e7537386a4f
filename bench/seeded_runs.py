"""Students over seeds against one teacher, appended to a JSON file after every run: the machinery shared by
bench/methods_cifar10.py (every distillation method) and bench/kd_sweep.py (KD's temperature × soft-target weight).

For each seed, every student (the plain cross-entropy one and one per method or setting) is built right after
`seed_everything(seed)`, so all start from the same initial weights and the same random stream (dropout), and each
gets its own training loader seeded with `seed`, so all see the same batches in the same order. The teacher is the
seed notebook's, from `kd_nb.experiment.get_teacher` (trained once, then reused from the teacher cache), and its
logits for the training images are computed once and handed to every distilled student (`teacher_outputs`).

The JSON is rewritten (atomically) after every student, so a killed run loses at most the student in progress, and a
new start skips the (model, seed) pairs already there. A file made with other settings (epochs, data, precision, ...)
is refused rather than mixed.
"""
from __future__ import annotations
import argparse, inspect, json, os, sys, time
from pathlib import Path
import torch
from kd_nb.core import get_device, seed_everything, hardware_info
from kd_nb.data import load_arrays, get_loaders, get_data_dir
from kd_nb.models import StudentModel, count_params, models_for
from kd_nb.training import train, train_kd, evaluate, teacher_logits
from kd_nb.experiment import Config, get_teacher, teacher_key

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
    p.add_argument('--first-seed', type=int, default=42, help="the first seed (default: 42, the seed notebook's)")
    p.add_argument('--epochs', type=int, default=10, help="epochs of each student (default: 10, the seed's)")
    p.add_argument('--subset', type=int, default=None, help="training images used, a fixed random sample (default: all 50000); needs --out")
    p.add_argument('--test-subset', type=int, default=None, help="test images used (default: all 10000)")
    p.add_argument('--precision', default='auto', help="auto, fp32, bf16 or fp16, for every student and the teacher's pass (default: auto)")
    p.add_argument('--out', default=None, help=f"the results JSON (default: {default_out.relative_to(REPO)})")
    p.add_argument('--data-dir', default=None, help=f"folder with cifar10.npz (default: $KD_NB_DATA, else {SHARED_DATA} if it exists)")
    p.add_argument('--cache-dir', default=None, help="the teacher cache (default: $KD_NB_CACHE or ~/.cache/kd_nb/teachers)")
    p.add_argument('--teacher-epochs', type=int, default=10, help="the teacher's epochs (default: 10, the seed's); trained once, then cached")
    p.add_argument('--teacher-precision', default=None,
                   help="the precision the teacher is trained in (default: --precision's); fp32 reuses a teacher cached before mixed precision")
    p.add_argument('--batch-size', type=int, default=64, help="(default: 64, the seed's)")
    p.add_argument('--lr', type=float, default=1e-3, help="Adam's learning rate (default: 1e-3, the seed's)")
    p.add_argument('--device', default=None, help="default: the accelerator if there is one, else the CPU")
    p.add_argument('--plan', action='store_true', help="print the runs still to do and exit")
    p.add_argument('--verbose', action='store_true', help="progress bars and per-epoch lines")
    p.set_defaults(default_out=default_out)
    return p

def check_args(p, a):
    for k in ('seeds', 'epochs', 'teacher_epochs', 'batch_size'):
        if getattr(a, k) < 1: p.error(f"--{k.replace('_', '-')} must be at least 1, got {getattr(a, k)}")
    for k in ('subset', 'test_subset'):
        if getattr(a, k) is not None and getattr(a, k) < 1: p.error(f"--{k.replace('_', '-')} must be at least 1")
    if a.subset is not None and a.out is None:
        p.error("a --subset run must not write the committed results: give --out PATH (for example /tmp/check.json)")
    a.out = Path(a.out) if a.out else a.default_out
    a.seed_list = list(range(a.first_seed, a.first_seed + a.seeds))
    return a

def _takes(fn, name): return name in inspect.signature(fn).parameters

def precision_of(requested:str, device) -> tuple:
    "The resolved precision and the keyword argument for kd_nb's training functions (none if this kd_nb predates precision)."
    try: from kd_nb.core import resolve_precision
    except ImportError:
        if requested not in ('auto', 'fp32'): fail(f"--precision {requested}: this kd_nb has no mixed precision; use fp32")
        return 'fp32', {}
    try: return resolve_precision(requested, device), dict(precision=requested)
    except ValueError as e: fail(str(e))

# ---------------------------------------------------------------- the results file
def fail(msg:str):
    "Stop with `msg` on standard error and exit status 2, as argparse does for bad arguments."
    print(f"{Path(sys.argv[0]).name}: error: {msg}", file=sys.stderr); sys.exit(2)

def load_results(path:Path, settings:dict) -> dict:
    "The results so far, if `path` exists and was made with `settings`; else a new dict. Different settings stop the run."
    if not path.exists(): return dict(settings=settings)
    try: res = json.loads(path.read_text())
    except json.JSONDecodeError as e: fail(f"{path} is not valid JSON ({e}); move it away to start afresh")
    diff = {k: (res.get('settings', {}).get(k), v) for k, v in settings.items() if res.get('settings', {}).get(k) != v}
    if diff:
        lines = '; '.join(f"{k}: file {a!r}, this run {b!r}" for k, (a, b) in sorted(diff.items()))
        fail(f"{path} holds results made with other settings ({lines}). Use another --out, or move the file away")
    return res

def save_results(path:Path, res:dict):
    "Write `res` atomically: a temporary file, then a rename."
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp'); tmp.write_text(json.dumps(res, indent=1)); os.replace(tmp, path)

def has_run(res:dict, key:str, seed:int) -> bool: return key in res and seed in res[key]['seeds']

def add_run(res:dict, key:str, seed:int, out:dict, meta:dict|None=None):
    "Append one student's result to `res[key]`, kept in seed order."
    e = res.setdefault(key, dict(meta or {}, acc=[], seeds=[], seconds=[], train_loss=[], history=[]))
    rows = list(zip(e['seeds'], e['acc'], e['seconds'], e['train_loss'], e['history']))
    rows.append((seed, out['acc'], out['seconds'], out['history'][-1]['train_loss'] if out['history'] else None, out['history']))
    rows.sort(key=lambda r: r[0])
    for i, k in enumerate(('seeds', 'acc', 'seconds', 'train_loss', 'history')): e[k] = [r[i] for r in rows]

# ---------------------------------------------------------------- data, teacher, students
class Bench:
    "The data, the teacher and its logits, and a way to train one student for one seed."
    def __init__(self, a):
        self.a, self.device = a, get_device(a.device)
        self.prec, self.pkw = precision_of(a.precision, self.device)
        self.tprec, self.tkw = precision_of(a.teacher_precision or a.precision, self.device)
        self.data = load_arrays('cifar10', data_dir_from(a.data_dir), a.subset, a.test_subset)
        self.info = self.data.info
        self.test_dl = get_loaders(self.data, a.batch_size, device=self.device, seed=0)[1]
        self.tcfg = Config(dataset='cifar10', epochs=a.teacher_epochs, lr=a.lr, batch_size=a.batch_size, seed=42,
                           subset=a.subset, test_subset=a.test_subset)
        self._teacher = self._logits = None; self._outputs = {}

    def settings(self, **extra) -> dict:
        "What must be equal for two results to be merged into one file."
        a = self.a
        return dict(dataset='cifar10', n_train=len(self.data.y_train), n_test=len(self.data.y_test), data=self.data.fingerprint(),
                    epochs=a.epochs, batch_size=a.batch_size, optimizer='Adam', lr=a.lr, precision=self.prec,
                    device=self.device.type, teacher_key=teacher_key(self.data, self.tcfg, **self._tk()), teacher_epochs=a.teacher_epochs,
                    teacher_precision=self.tprec,
                    student='StudentModel', teacher='TeacherModel', **extra)

    def _tk(self): return dict(precision=self.tprec) if _takes(teacher_key, 'precision') else {}

    def teacher(self):
        "The seed's teacher, from the cache or trained once (and cached); its test accuracy is measured once."
        if self._teacher is None:
            kw = self.tkw if _takes(get_teacher, 'precision') else {}
            t, rec = get_teacher(self.data, self.tcfg, self.a.cache_dir, device=self.device, quiet=not self.a.verbose, **kw)
            self._teacher = t.eval()
            self.teacher_info = dict(epochs=self.a.teacher_epochs, reused=rec['reused'], path=rec['path'], train_seconds=rec['seconds'],
                                     test_acc=evaluate(t, self.test_dl, **self.pkw)['acc'], params=count_params(t))
            print(f"teacher: {self.teacher_info['test_acc']:.2f}% test accuracy ({'reused from' if rec['reused'] else 'trained and cached in'} "
                  f"{rec['path']})", flush=True)
        return self._teacher

    def logits(self):
        "The teacher's logits for the training images, computed once."
        if self._logits is None:
            t0 = time.perf_counter()
            dl = get_loaders(self.data, self.a.batch_size, device=self.device, seed=0)[0]
            self._logits = teacher_logits(self.teacher(), dl, self.device, **self.pkw)
            self.teacher_info['logits_seconds'] = time.perf_counter() - t0
            print(f"teacher: logits of {len(self._logits)} training images in {self.teacher_info['logits_seconds']:.1f} s", flush=True)
        return self._logits

    def outputs(self, layers=()):
        "The teacher's logits and, if `layers` are named, their outputs (`kd_nb.training.teacher_features`), computed once per set of layers."
        if not layers: return self.logits()
        key = tuple(sorted(layers))
        if key not in self._outputs:
            from kd_nb.training import teacher_features
            t0 = time.perf_counter()
            dl = get_loaders(self.data, self.a.batch_size, device=self.device, seed=0)[0]
            self._outputs[key] = teacher_features(self.teacher(), dl, list(key), self.device, **self.pkw)
            print(f"teacher: logits and the outputs of {', '.join(key)} for {dl.n} training images in {time.perf_counter() - t0:.1f} s", flush=True)
        return self._outputs[key]

    def student(self, seed:int, kd:dict|None=None) -> dict:
        "Train one student for `seed`: cross-entropy if `kd` is None, else `train_kd(**kd)` against the teacher's outputs, computed once."
        a = self.a
        if kd is not None:
            kw = dict(kd); layers = kw.pop('layers', ())   # the teacher's layers a feature method compares
            teacher, tl = self.teacher(), self.outputs(layers)
        seed_everything(seed); s = StudentModel(**models_for(self.info))
        dl = get_loaders(self.data, a.batch_size, device=self.device, seed=seed)[0]
        t0 = time.perf_counter()
        if kd is None: hist = train(s, dl, a.epochs, a.lr, self.device, quiet=not a.verbose, desc=f'ce seed {seed}', **self.pkw)
        else: hist = train_kd(teacher, s, dl, a.epochs, a.lr, self.device, teacher_outputs=tl, quiet=not a.verbose,
                              desc=f'kd seed {seed}', **kw, **self.pkw)
        sec = time.perf_counter() - t0
        acc = evaluate(s, self.test_dl, **self.pkw)['acc']
        return dict(acc=acc, seconds=sec, history=hist)

def run_plan(bench:Bench, res:dict, path:Path, plan:list):
    """Run `plan`, a list of `(key, seed, kd_kwargs or None, meta)`, skipping pairs already in `res`; save after each.
    Prints one line per student with the time it took and an estimate of the time left."""
    todo = [p for p in plan if not has_run(res, p[0], p[1])]
    print(f"{len(plan) - len(todo)} of {len(plan)} runs already in {path}; {len(todo)} to do", flush=True)
    times, before, t_start = [], res.get('seconds_total', 0), time.perf_counter()
    for i, (key, seed, kd, meta) in enumerate(todo, 1):
        out = bench.student(seed, kd)
        add_run(res, key, seed, out, meta)
        if bench._teacher is not None: res['teacher'] = bench.teacher_info
        res['seconds_total'] = before + time.perf_counter() - t_start   # over all sessions of this file
        save_results(path, res)
        times.append(out['seconds'])
        left = (len(todo) - i) * sum(times) / len(times)
        print(f"[{i}/{len(todo)}] {key} seed {seed}: {out['acc']:.2f}% in {out['seconds']:.1f} s; "
              f"about {left/60:.0f} min left", flush=True)
    return res

def start_session(res:dict) -> dict:
    "Record this session's hardware and command line in `res` (the first session's hardware is `res['hardware']`)."
    hw = hardware_info()
    res.setdefault('hardware', hw)
    res.setdefault('sessions', []).append(dict(started=time.strftime('%Y-%m-%d %H:%M:%S'), hardware=hw, argv=sys.argv[1:]))
    return res

def open_run(a, plan_for):
    """The opening every seeded script shares: the data and teacher (`Bench`), the results file (refused if its settings
    differ), and the plan. With `--plan`, print the runs still to do and return None; else start a session in the file
    and return `(bench, settings, res, plan)`."""
    bench = Bench(a)
    settings = bench.settings()
    res = load_results(a.out, settings)
    plan = plan_for(a)
    if a.plan:
        todo = [f"{k} seed {s}" for k, s, _, _ in plan if not has_run(res, k, s)]
        print(f"{len(todo)} of {len(plan)} runs to do (into {a.out}):\n  " + '\n  '.join(todo))
        return None
    start_session(res)
    res.update(epochs=a.epochs, n_train=settings['n_train'], n_test=settings['n_test'])
    return bench, settings, res, plan
