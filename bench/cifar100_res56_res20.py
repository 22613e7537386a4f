"""The field's benchmark on CIFAR-100: ResNet-56 -> ResNet-20, the student alone, with KD and with DKD, over paired seeds,
by the published protocol (RepDistiller's `train_student.py`, mdistiller's `res56_res20.yaml`).

    python bench/cifar100_res56_res20.py [--plan] [--seeds 3] [--teacher PATH]

The protocol, for the teacher and every student: SGD (momentum 0.9, weight decay 5e-4), lr 0.05, batches of 64,
240 epochs, the rate x 0.1 after epochs 150, 180 and 210 (`kd_nb.training`'s `optimizer='sgd', schedule='step'`);
random 32x32 crops after 4 pixels of zero padding and horizontal flips; normalised with CIFAR-100's own statistics.
KD: T = 4, KD weight 0.9, cross-entropy weight 0.1. DKD: cross-entropy 1.0, alpha 1, beta 2, T = 4, its weight
warmed up over the first 20 epochs. The networks are `kd_nb.models.CIFAR_MODELS`' cifar_resnet56 and cifar_resnet20.

The order of the work, each step resumable and written as it finishes (one CPU-heavy job at a time):
1. The teacher (seed 42), checkpointed after every epoch in `--work-dir`; once trained, its weights go to
   nbs/results/cifar100_resnet56.safetensors (committed: a new machine does not retrain it) and its record to the file.
   While it trains over several sessions, its checkpoint is committed at each session's end as
   nbs/results/cifar100_teacher_checkpoint.pt, from which a new machine goes on.
2. The view cache (`kd_nb.views.view_cache`): K = `--epochs` stored views of every training image (a crop and a flip
   each) with the teacher's logits for each, computed once; the file records its key and build time.
3. For each seed: the student alone, KD, DKD. Every student of every arm trains on the same stored views: in epoch e,
   image i comes as its view (offset_i + e) mod K, so that over the K = 240 epochs it sees each of its 240 views once
   (a fresh crop and flip every epoch), and the distilled students get the teacher's logits for exactly those pixels.
   The three arms of a seed start from the same weights (`seed_everything(seed)` then the build) and get a loader
   seeded with the seed (the same batch order and view offsets): they are paired.

Every epoch's test accuracy is in each run's history (`test_acc`; the test set only reports, nothing is chosen on
it). The result of a run is its last epoch's test accuracy (`acc`); `best_acc` is the best epoch's, which the
published tables report. Results go to nbs/results/cifar100_res56_res20.json (`--out`), rewritten after each run
(`bench/seeded_runs.py`'s bookkeeping: per arm `acc`, `best_acc`, `seeds`, `seconds`, `history`, `session`).
A file made with other settings (epochs, data, precision, ...) is refused rather than mixed: on a CPU without
native bf16, `--precision auto` resolves to fp32 and the run stops before any training.

A check of the whole path in a minute: `--synthetic --epochs 2 --seeds 2 --out /tmp/c.json --work-dir /tmp/c`.
"""
from __future__ import annotations
import argparse, shutil, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, data_dir_from, fail, has_run, load_results, resolved, run_plan, save_results, start_session
from kd_nb.core import get_device, seed_everything, hardware_info
from kd_nb.data import load_arrays, synthetic_arrays, get_loaders, ViewSpec, Views, make_views
from kd_nb.models import build_model, count_params, models_for
from kd_nb.training import train, train_kd, evaluate, load_checkpoint, TrainingStopped
from kd_nb.students import StudentRun
from kd_nb.teachers import default_cache_dir, load_teacher
from kd_nb.views import view_cache, weights_fingerprint, outputs_fingerprint
from kd_nb.stats import machine_of

OUT = RESULTS/'cifar100_res56_res20.json'
WEIGHTS = RESULTS/'cifar100_resnet56.safetensors'
PROGRESS = RESULTS/'cifar100_teacher_checkpoint.pt'   # the teacher's checkpoint, committed at a session's end while it trains (7 MB)
TEACHER, STUDENT = 'cifar_resnet56', 'cifar_resnet20'
PROTOCOL = dict(optimizer='sgd', schedule='step', lr=0.05, batch_size=64)
ARMS = dict(alone=None, kd='kd(temperature=4, weight=0.9)+ce(weight=0.1)', dkd='dkd(alpha=1, beta=2, temperature=4)')
PUBLISHED = dict(teacher=72.34, alone=69.06, kd=70.66, dkd=71.97,   # top-1 %, the best epoch of one run each
                 source="RepDistiller's README (CRD, Tian et al. 2020: teacher, alone, KD); mdistiller's README (DKD, Zhao et al. 2022)")
TEACHER_SEED = 42

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, default=3, help="seeds per arm: --first-seed, --first-seed + 1, ... (default: 3)")
    p.add_argument('--first-seed', type=int, default=42, help="(default: 42)")
    p.add_argument('--epochs', type=int, default=240, help="epochs of the teacher and of every student; also K, the stored views (default: 240)")
    p.add_argument('--only', default=None, help="run only these arms (comma-separated: alone, kd, dkd)")
    p.add_argument('--teacher', default=None, help=f"the teacher's weights (default: {WEIGHTS.relative_to(RESULTS.parents[1])} if there, else trained here)")
    p.add_argument('--synthetic', action='store_true', help="random 100-class images instead of CIFAR-100 (a check of the path; needs --out)")
    p.add_argument('--subset', type=int, default=None, help="training images used (default: all 50,000); needs --out")
    p.add_argument('--test-subset', type=int, default=None, help="test images used (default: all 10,000)")
    p.add_argument('--precision', default='auto', help="auto, fp32, bf16 or fp16, for every network (default: auto: bf16 on a CPU that has it)")
    p.add_argument('--out', default=None, help=f"the results JSON (default: nbs/results/{OUT.name})")
    p.add_argument('--work-dir', default=None, help="checkpoints of the runs in progress (default: <cache-dir>/cifar100_res56_res20)")
    p.add_argument('--data-dir', default=None, help="folder with cifar100.npz (default: $KD_NB_DATA; `kd_nb.sources.cifar100_npz` makes it)")
    p.add_argument('--cache-dir', default=None, help="where the view cache is kept (default: $KD_NB_CACHE or ~/.cache/kd_nb/teachers)")
    p.add_argument('--device', default=None)
    p.add_argument('--plan', action='store_true', help="print what is done and what is still to do, and exit")
    a = p.parse_args(argv)
    for k in ('seeds', 'epochs'):
        if getattr(a, k) < 1: fail(f"--{k} must be at least 1, got {getattr(a, k)}")
    if not a.epochs <= 255: fail(f"--epochs is also K, the stored views per image, at most 255; got {a.epochs}")
    if (a.synthetic or a.subset or a.test_subset) and a.out is None: fail("a --synthetic or --subset run must not write the committed results: give --out PATH")
    a.only = list(ARMS) if a.only is None else a.only.split(',')
    if set(a.only) - set(ARMS): fail(f"--only takes {', '.join(ARMS)}; got {sorted(set(a.only) - set(ARMS))}")
    a.out, a.seed_list = Path(a.out) if a.out else OUT, list(range(a.first_seed, a.first_seed + a.seeds))
    a.cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    a.work = Path(a.work_dir) if a.work_dir else a.cache/'cifar100_res56_res20'
    a.weights = Path(a.teacher) if a.teacher else (a.out.with_name(WEIGHTS.name) if a.out != OUT else WEIGHTS)
    return a

def best(history:list) -> float: return max(h['test_acc'] for h in history)
def epochs_in(checkpoint:Path) -> int: return load_checkpoint(checkpoint)['epoch']

class Benchmark:
    "The data, the teacher (trained once, then read from its committed weights), the stored views, one student of one arm for one seed."
    def __init__(self, a):
        self.a, self.device = a, get_device(a.device); self.prec = resolved(a.precision, self.device)
        if a.synthetic: self.data = synthetic_arrays('cifar100', a.subset or 640, a.test_subset or 200)
        else:
            try: self.data = load_arrays('cifar100', data_dir_from(a.data_dir), a.subset, a.test_subset, download=False)
            except (FileNotFoundError, ValueError) as e: fail(f"{e}\nMake cifar100.npz from the PNGs with kd_nb.sources.cifar100_npz (see the CIFAR-100 page)")
        self.train_dl, self.test_dl = get_loaders(self.data, PROTOCOL['batch_size'], device=self.device, seed=0)
        self.spec = ViewSpec(k=a.epochs, augment=True, seed=0)
        self._teacher = self._views = None; self.views_info = None

    def settings(self) -> dict:
        "What must be equal for two results to be merged into one file."
        d = self.data
        return dict(dataset='cifar100', n_train=len(d.y_train), n_test=len(d.y_test), data=d.fingerprint(), epochs=self.a.epochs,
                    **PROTOCOL, precision=self.prec, device=self.device.type, teacher=TEACHER, student=STUDENT,
                    views=dict(k=self.spec.k, augment=self.spec.augment, seed=self.spec.seed), teacher_seed=TEACHER_SEED)

    def fit_kw(self, role:str, seed:int) -> dict:
        a = self.a
        return dict(**{k: PROTOCOL[k] for k in ('optimizer', 'schedule')}, valid_loader=self.test_dl, scored_on='test', quiet=False,
                    checkpoint=a.work/f'{role}.pt', resume=True, precision=self.prec, desc=f"{role}", config=dict(role=role, seed=seed))

    def teacher(self, res:dict):
        "The teacher: from its weights file if there (checked against the file's record), else trained here (resuming) and saved."
        if self._teacher is not None: return self._teacher
        rec, a = res.get('teacher'), self.a
        if a.weights.is_file() and (rec or not (a.work/'teacher.pt').exists()):   # weights without a record but with a checkpoint: a run killed after saving them; it finishes below
            t = load_teacher(a.weights, TEACHER, self.data.info).to(self.device)
            fp = weights_fingerprint(t)
            if rec and rec.get('weights') != fp:
                fail(f"{a.weights} holds weights {fp}, but the results in {a.out} come from the teacher {rec.get('weights')}: give its weights with --teacher, or another --out")
            if not rec:
                acc = evaluate(t, self.test_dl, precision=self.prec)['acc']
                res['teacher'] = dict(file=a.weights.name, weights=fp, params=count_params(t), trained='elsewhere (given with --teacher)',
                                      acc=acc, best_acc=acc, history=[], seconds=None)
            print(f"teacher {a.weights.name}: {res['teacher']['acc']:.2f}% test", flush=True)
        else:
            if rec: fail(f"{a.out} records a teacher ({rec.get('weights')}) whose weights {a.weights} are not there: give them with --teacher")
            ck = a.work/'teacher.pt'
            if a.out == OUT and PROGRESS.exists() and (not ck.exists() or epochs_in(PROGRESS) > epochs_in(ck)):   # the committed checkpoint is further on
                a.work.mkdir(parents=True, exist_ok=True); shutil.copyfile(PROGRESS, ck)
                print(f"copied the committed checkpoint {PROGRESS.name} ({epochs_in(ck)} epochs) to {ck}", flush=True)
            res['sessions'][-1]['teacher_from_epoch'] = epochs_in(ck) if ck.exists() else 0   # which epochs ran on this session's machine
            save_results(a.out, res)
            seed_everything(TEACHER_SEED); t = build_model(TEACHER, **models_for(self.data.info))
            dl = get_loaders(self.data, PROTOCOL['batch_size'], device=self.device, seed=TEACHER_SEED, augment=True)[0]
            print(f"training the teacher {TEACHER} ({count_params(t):,} parameters) for {a.epochs} epochs; checkpoints in {a.work}", flush=True)
            t0 = time.perf_counter(); hist = train(t, dl, a.epochs, PROTOCOL['lr'], self.device, **self.fit_kw('teacher', TEACHER_SEED))
            import safetensors.torch
            a.weights.parent.mkdir(parents=True, exist_ok=True); safetensors.torch.save_file(t.state_dict(), str(a.weights))
            res['teacher'] = dict(file=a.weights.name, weights=weights_fingerprint(t), params=count_params(t), seed=TEACHER_SEED,
                                  acc=hist[-1]['test_acc'], best_acc=best(hist), history=hist,
                                  seconds=sum(h['seconds'] for h in hist), wall_seconds_this_session=time.perf_counter() - t0,
                                  trained=dict(**PROTOCOL, epochs=a.epochs, augment='random crop (4-pixel zero padding) and flip, fresh every batch',
                                               precision=self.prec, hardware=hardware_info()), session=len(res['sessions']) - 1)
            save_results(a.out, res)
            (a.work/'teacher.pt').unlink(missing_ok=True)
            if a.out == OUT and PROGRESS.exists(): PROGRESS.unlink(); print(f"the teacher is trained: git rm {PROGRESS.name}", flush=True)
            print(f"teacher: {res['teacher']['acc']:.2f}% test after the last epoch ({res['teacher']['best_acc']:.2f}% at the best)", flush=True)
        self._teacher = t.eval(); return t

    def views(self, res:dict, with_logits:bool):
        "The stored views: their parameters alone for the student alone, with the teacher's logits (the view cache, built once) for the others."
        if not with_logits: return Views(self.spec, make_views(self.train_dl.n, self.spec))   # the same pixels as the cache's views
        if self._views is None:
            self._views, rec = view_cache(self.teacher(res), self.train_dl, self.spec, self.a.cache, self.prec, self.device)
            self.views_info = {k: rec[k] for k in ('key', 'spec', 'n', 'nbytes', 'seconds', 'precision', 'reused')}
            self.views_fp = outputs_fingerprint(self._views)   # what the distilled students learn from, recorded with each of them
            if not rec['reused'] or 'views' not in res: res['views'] = dict(self.views_info, hardware=hardware_info())
            save_results(self.a.out, res)
        return self._views

    def student(self, key:str, seed:int, spec):
        "Train arm `key`'s student for `seed` on the stored views (checkpointed every epoch, resumed), and score it on the test set."
        if getattr(self, 'finished', None) is not None: Path(self.finished).unlink(missing_ok=True)   # the last student's: its result is saved
        views = self.views(self.res, spec is not None)
        dl = get_loaders(self.data, PROTOCOL['batch_size'], device=self.device, seed=seed, views=views)[0]
        seed_everything(seed); model = build_model(STUDENT, **models_for(self.data.info))
        kw = self.fit_kw(f"{key}_seed{seed}", seed); t0 = time.perf_counter()
        hist = (train(model, dl, self.a.epochs, PROTOCOL['lr'], self.device, **kw) if spec is None else
                train_kd(self._teacher, model, dl, self.a.epochs, PROTOCOL['lr'], self.device, method=spec, **kw))
        self.finished = kw['checkpoint']   # the result is the last epoch's test score, as the history has it
        return StudentRun(key=key, seed=seed, model=model, history=hist, seconds=max(time.perf_counter() - t0, sum(h['seconds'] for h in hist)),
                          acc=hist[-1]['test_acc'], loss=hist[-1]['test_loss'], teacher_outputs=None if spec is None else self.views_fp)

    def record(self, res:dict):
        "After each student: the best epoch's test accuracy of every run beside the last epoch's."
        for k in ARMS:
            if k in res: res[k]['best_acc'] = [best(h) for h in res[k]['history']]

def plan_of(a) -> list:
    "(arm, seed, spec, meta) in the order of the work: seed by seed, the three arms of each."
    return [(k, s, ARMS[k], dict(method=ARMS[k])) for s in a.seed_list for k in ARMS if k in a.only]

def teacher_progress(a) -> str:
    "How far the teacher's training is, from its checkpoint in the work folder (or the committed one)."
    ck = next((p for p in (a.work/'teacher.pt', PROGRESS) if p.exists()), None)
    if ck is None: return 'to train'
    h = load_checkpoint(ck)['history']
    return f"training: {len(h)} of {a.epochs} epochs in {ck}" + (f", {h[-1]['test_acc']:.2f}% test after the last" if h else '')

def show_plan(a, res:dict, plan:list):
    t = res.get('teacher')
    print(f"{a.out}: teacher {'done: %.2f%% test' % t['acc'] if t else teacher_progress(a)}; view cache {'built' if res.get('views') else 'to build'}")
    for k, s, _, _ in plan:
        done = has_run(res, k, s)
        print(f"  {k} seed {s}: " + (f"done, {res[k]['acc'][res[k]['seeds'].index(s)]:.2f}% test (last epoch)" if done else 'to do'))

def warn_split_seeds(res:dict, plan:list, here:str):
    "Say which seeds have arms done on another machine than this one: their arms done here will not pair with those (`kd_nb.stats.same_machine`)."
    for s in sorted({seed for _, seed, _, _ in plan}):
        other = {m for k in ARMS if k in res for sd, m in zip(res[k]['seeds'], res[k].get('machine') or []) if sd == s and m and m != here}
        todo = [k for k, sd, _, _ in plan if sd == s and not has_run(res, k, sd)]
        if other and todo:
            print(f"warning: seed {s}'s arms done so far ran on {', '.join(sorted(other))}; this machine is {here}: its {', '.join(todo)} "
                  "will not pair with them unless bench/reproduce.py records that the two machines give the same numbers", flush=True)

def main(argv=None):
    a = parse_args(argv); b = Benchmark(a)
    res = load_results(a.out, b.settings()); plan = plan_of(a)
    if a.plan: show_plan(a, res, plan); return res
    start_session(res); res.update(description=__doc__.split('\n\n')[0], published=PUBLISHED, arms=ARMS, n_train=len(b.data.y_train), n_test=len(b.data.y_test))
    save_results(a.out, res); b.res = res
    warn_split_seeds(res, plan, machine_of(res['sessions'][-1]['hardware'], b.prec))
    try:
        b.teacher(res)
        run_plan(b, res, a.out, plan)
        if getattr(b, 'finished', None) is not None: Path(b.finished).unlink(missing_ok=True)   # the last student's: its result is saved
    except TrainingStopped as e: print(e); sys.exit(e.exit_status)
    return res

if __name__ == '__main__': main()
