"""How much faster kd_nb distils a student than the tutorial, on the same data, machine, teacher and batch size.

    python bench/kd_speed.py [--subset N] [--epochs N] [--data-dir D] [--teacher-epochs N] [--test-subset N] [--json PATH]

Both pipelines distil from one trained teacher, from `kd_nb.teachers.get_teacher` (reused from the teacher cache,
`$KD_NB_CACHE` or ~/.cache/kd_nb/teachers, when one matches the data and settings), so the teacher's training is not
part of the comparison. Then, in this one process:

* the tutorial (bench/tutorial_pipeline.py, its code): PIL images through `ToTensor` + `Normalize` and a `DataLoader`,
  the teacher's forward pass on every batch of every epoch, `loss.item()` after every batch;
* kd_nb: uint8 images in one tensor, normalised a batch at a time (`TensorLoader`), the teacher's outputs computed
  once (`teacher_logits`) and looked up by index in every KD epoch (`train_kd`).

The tutorial's two students run first, then kd_nb's teacher pass, then kd_nb's two students back to back: kd_overhead
divides two epoch times, so they are measured minutes apart, not half an hour apart. On shared CPUs the speed of the
machine drifts over a run this long (in the first full run the tutorial's KD epochs went from 115 s to 136 s), and the
first version of this script, which ran kd_nb's CE student before the tutorial's KD phase and its KD student after it,
reported an overhead of 1.48; alternating single CE and KD epochs in one process gave 0.90-1.04.
Each student has a loader of its own with the same seed, so both see the same batches in the same order, as the
tutorial's two students do. Both pipelines distil with the tutorial's settings (T = 2, soft-target weight 0.25, label
weight 0.75; for kd_nb the method spec `kd(temperature=2.0, weight=0.25)+ce(weight=0.75)`, its default 'kd'). In the
JSON of `--json`, the tutorial's measurements are under the key "seed".

It prints one Markdown table and, last, the line `kd_speedup=<x> kd_overhead=<y>`:
x = the tutorial's whole KD phase / kd_nb's whole KD phase (its one-time teacher pass included),
y = kd_nb's KD epoch / kd_nb's CE epoch (what distilling costs over plain training, once the teacher's outputs are cached).
A quick run: `--subset 5000 --epochs 10` (plus the teacher's training if none is cached).
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
import tutorial_pipeline as tutorial
from kd_nb.core import get_device, seed_everything, hardware_info, resolve_precision
from kd_nb.data import load_arrays, get_loaders
from kd_nb.models import StudentModel
from kd_nb.training import train, train_kd, evaluate
from kd_nb.teacher_outputs import teacher_logits
from kd_nb.config import Config
from kd_nb.teachers import get_teacher, teacher_key, default_cache_dir

from seeded_runs import SHARED_DATA, data_dir_from   # one rule for where the data is, in every script

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--subset', type=int, default=None, help="training images used (a fixed random sample; default: all 50000)")
    p.add_argument('--test-subset', type=int, default=None, help="test images used (default: all 10000)")
    p.add_argument('--epochs', type=int, default=10, help="epochs of each student, in each pipeline (default: 10, the tutorial's)")
    p.add_argument('--data-dir', default=None,
                   help=f"folder with cifar10.npz (default: $KD_NB_DATA, else {SHARED_DATA} if it exists, else kd_nb's default)")
    p.add_argument('--teacher-epochs', type=int, default=None,
                   help="train the teacher for this many epochs unless a cached one with exactly these settings exists "
                        "(default: reuse any cached teacher for this data, the longest trained, else train one for 1 epoch)")
    p.add_argument('--cache-dir', default=None, help="the teacher cache (default: $KD_NB_CACHE or ~/.cache/kd_nb/teachers)")
    p.add_argument('--batch-size', type=int, default=64, help="the tutorial's 64 (default)")
    p.add_argument('--device', default=None, help="default: the accelerator if there is one, else the CPU")
    p.add_argument('--threads', type=int, default=None,
                   help="torch.set_num_threads for this run (default: torch's, one per core). On CPUs that another job keeps "
                        "busy, --threads 1 avoids multi-threaded kernels waiting on each other and gives steadier timings")
    p.add_argument('--teacher-accuracy', action='store_true',
                   help="also report the teacher's test accuracy (one more teacher pass over the test images)")
    p.add_argument('--json', default=None, metavar='PATH', help="also write every measurement to this JSON file")
    p.add_argument('--verbose', action='store_true', help="show the tutorial's per-epoch lines and kd_nb's progress bars")
    a = p.parse_args(argv)
    for k in ('subset', 'test_subset', 'teacher_epochs', 'threads'):
        v = getattr(a, k)
        if v is not None and v < 1: p.error(f"--{k.replace('_', '-')} must be at least 1, got {v}")
    if a.epochs < 1: p.error(f"--epochs must be at least 1, got {a.epochs}")
    return a

def hardware() -> dict:
    hw = hardware_info()
    try: hw['cores_usable'] = len(os.sched_getaffinity(0))
    except AttributeError: hw['cores_usable'] = os.cpu_count()
    hw['interop_threads'] = torch.get_num_interop_threads()
    try: hw['loadavg_start'] = [round(x, 2) for x in os.getloadavg()]
    except OSError: pass
    return hw

def cached_teacher_epochs(data, cfg, cache, device) -> list:
    "teacher_epochs of the cached teachers that fit `data` and `cfg` apart from teacher_epochs, most epochs first."
    found = set()
    for j in Path(cache).glob('teacher-*.json'):
        try: rec = json.loads(j.read_text()); e = int(rec['config']['teacher_epochs'])
        except Exception: continue
        c = Config(**{**vars(cfg), 'teacher_epochs': e})
        key = teacher_key(data, c, precision=resolve_precision(c.precision, device))
        if rec.get('key') == key and (Path(cache)/f"teacher-{key}.pt").exists(): found.add(e)
    return sorted(found, reverse=True)

def choose_teacher(data, cfg, args, device):
    cache = Path(args.cache_dir or default_cache_dir())
    if args.teacher_epochs is not None: epochs, why = args.teacher_epochs, f"--teacher-epochs {args.teacher_epochs}"
    else:
        have = cached_teacher_epochs(data, cfg, cache, device)
        epochs, why = (have[0], f"the cached teacher trained longest ({have[0]} epochs)") if have else (1, "no cached teacher: default 1 epoch")
    cfg = Config(**{**vars(cfg), 'teacher_epochs': epochs})
    key = teacher_key(data, cfg, precision=resolve_precision(cfg.precision, device))   # as get_teacher keys it
    cached = (cache/f"teacher-{key}.pt").exists() and (cache/f"teacher-{key}.json").exists()
    print(f"teacher: {'reusing the cached one' if cached else f'training one for {epochs} epoch(s)'} "
          f"({why}; cache {cache})", flush=True)
    teacher, rec = get_teacher(data, cfg, cache, device=device, quiet=not args.verbose)
    if not rec['reused']: print(f"teacher: trained in {rec['seconds']:.1f} s and cached as {rec['path']}", flush=True)
    return teacher.eval(), dict(epochs=epochs, reused=rec['reused'], path=rec['path'], train_seconds=rec['seconds'], why=why)

def time_loader(loader) -> float:
    "Seconds to go once through `loader` without a model."
    t0 = time.perf_counter()
    for xb, yb in loader: pass
    return time.perf_counter() - t0

def warm_up(device):
    "One forward and backward of each architecture, so that neither pipeline pays one-time library start-up costs."
    x = torch.randn(64, 3, 32, 32, device=device); y = torch.randint(0, 10, (64,), device=device)
    for m in (tutorial.TeacherModel().to(device), tutorial.StudentModel().to(device)):
        torch.nn.functional.cross_entropy(m(x), y).backward()

def mean(xs): return sum(xs) / len(xs)

def fmt_s(v): return '—' if v is None else (f"{v:.3f} s" if v < 10 else f"{v:.1f} s")
def fmt_pct(v): return f"{v:.2f}%"
def ratio(a, b): return '—' if a is None or b is None or b == 0 else f"{a / b:.2f}×"

def table(r) -> str:
    s, k = r['seed'], r['kd_nb']
    rows = [('data loading per epoch', fmt_s(s['data_loading_seconds']), fmt_s(k['data_loading_seconds']),
             ratio(s['data_loading_seconds'], k['data_loading_seconds'])),
            ('CE epoch', fmt_s(s['ce_epoch_seconds']), fmt_s(k['ce_epoch_seconds']), ratio(s['ce_epoch_seconds'], k['ce_epoch_seconds'])),
            ('KD epoch', fmt_s(s['kd_epoch_seconds']), fmt_s(k['kd_epoch_seconds']) + ' (cached outputs)',
             ratio(s['kd_epoch_seconds'], k['kd_epoch_seconds'])),
            ('teacher-output pass (one-time)', '— (teacher on every batch)', fmt_s(k['teacher_pass_seconds']), '—'),
            (f"whole KD phase ({r['settings']['epochs']} epochs)", fmt_s(s['kd_phase_seconds']),
             fmt_s(k['kd_phase_seconds']) + ' (pass included)', ratio(s['kd_phase_seconds'], k['kd_phase_seconds'])),
            ('student accuracy (CE)', fmt_pct(s['acc_ce']), fmt_pct(k['acc_ce']), ratio(s['acc_ce'], k['acc_ce'])),
            ('student accuracy (KD)', fmt_pct(s['acc_kd']), fmt_pct(k['acc_kd']), ratio(s['acc_kd'], k['acc_kd']))]
    lines = ['| | tutorial | kd_nb | ratio (tutorial / kd_nb) |', '|---|---:|---:|---:|']
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return '\n'.join(lines)

def main(argv=None):
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.threads: torch.set_num_threads(args.threads)
    device = get_device(args.device)
    hw = hardware()
    data = load_arrays('cifar10', data_dir_from(args.data_dir), args.subset, args.test_subset)
    bs, epochs, lr, T, w_soft, w_ce = args.batch_size, args.epochs, 1e-3, 2.0, 0.25, 0.75
    method = f"kd(temperature={T}, weight={w_soft})+ce(weight={w_ce})"   # the tutorial's KD: kd_nb's default 'kd'
    cfg = Config(dataset='cifar10', epochs=epochs, lr=lr, batch_size=bs, seed=42, method=method,
                 subset=args.subset, test_subset=args.test_subset)
    settings = dict(dataset='cifar10', n_train=len(data.y_train), n_test=len(data.y_test), data_source=data.source,
                    epochs=epochs, batch_size=bs, lr=lr, temperature=T, soft_target_loss_weight=w_soft,
                    ce_loss_weight=w_ce, seed=42, device=str(device))
    print(f"hardware: {hw['cpu']}, {hw['cores']} cores ({hw['cores_usable']} usable), torch {hw['torch']}, "
          f"{hw['threads']} threads, device {device}" + (f", load average {hw['loadavg_start']}" if 'loadavg_start' in hw else ''))
    print(f"settings: {settings['n_train']} training and {settings['n_test']} test images of CIFAR-10 ({Path(data.source).name}), "
          f"{epochs} epochs per student, batch size {bs}, Adam lr {lr}, T={T}, weights {w_soft}/{w_ce}", flush=True)
    busy = hw.get('loadavg_start', [0])[0]
    if device.type == 'cpu' and busy >= 0.75 * hw['cores_usable']:
        print(f"warning: the CPUs are busy (load average {busy:.2f} on {hw['cores_usable']} cores): timings will be noisy"
              + (", and multi-threaded kernels slowed a lot; --threads 1 helps" if hw['threads'] > 1 else ""), flush=True)

    teacher, tinfo = choose_teacher(data, cfg, args, device)
    tut_teacher = tutorial.TeacherModel().to(device); tut_teacher.load_state_dict(teacher.state_dict()); tut_teacher.eval()

    # the two pipelines' loaders
    tut_train_dl, tut_test_dl = tutorial.tutorial_loaders(data.x_train, data.y_train, data.x_test, data.y_test, batch_size=bs)
    kd_train_dl, kd_test_dl = get_loaders(data, bs, device=device, seed=42)
    kd_train_dl2 = get_loaders(data, bs, device=device, seed=42)[0]   # the KD student's: the same batches as the CE student's
    tinfo['acc'] = evaluate(teacher, kd_test_dl)['acc'] if args.teacher_accuracy else None
    if args.teacher_accuracy: print(f"teacher: {tinfo['acc']:.2f}% test accuracy", flush=True)
    warm_up(device)
    verbose = args.verbose

    print("measuring data loading ...", flush=True)
    load_tut, load_kd = time_loader(tut_train_dl), time_loader(kd_train_dl)

    def students(cls):
        seed_everything(42); a = cls().to(device)
        seed_everything(42); b = cls().to(device)
        return a, b
    s_ce, s_kd = students(tutorial.StudentModel)
    k_ce, k_kd = students(StudentModel)
    same_init = all(torch.equal(a, b) for m in (s_kd, k_ce, k_kd) for a, b in zip(s_ce.state_dict().values(), m.state_dict().values()))
    if not same_init: print("warning: the four students do not start from the same weights")

    print("tutorial: CE student ...", flush=True)
    seed_everything(42); t0 = time.perf_counter()
    s_ce_hist = tutorial.train(s_ce, tut_train_dl, epochs, lr, device, verbose=verbose); s_ce_wall = time.perf_counter() - t0
    t0 = time.perf_counter(); s_ce_acc = tutorial.test(s_ce, tut_test_dl, device, verbose=verbose); s_test_sec = time.perf_counter() - t0
    print("tutorial: KD student ...", flush=True)
    seed_everything(42); t0 = time.perf_counter()
    s_kd_hist = tutorial.train_knowledge_distillation(tut_teacher, s_kd, tut_train_dl, epochs=epochs, learning_rate=lr,
                                                  temperature=T, soft_target_loss_weight=w_soft, ce_loss_weight=w_ce,
                                                  device=device, verbose=verbose)
    s_kd_wall = time.perf_counter() - t0
    s_kd_acc = tutorial.test(s_kd, tut_test_dl, device, verbose=verbose)
    print("kd_nb: teacher-output pass ...", flush=True)
    t0 = time.perf_counter(); k_outputs = teacher_logits(teacher, kd_train_dl2, device); k_pass = time.perf_counter() - t0
    print("kd_nb: CE student ...", flush=True)
    seed_everything(42); t0 = time.perf_counter()
    k_ce_hist = train(k_ce, kd_train_dl, epochs, lr, device, quiet=not verbose, desc='student'); k_ce_wall = time.perf_counter() - t0
    t0 = time.perf_counter(); k_ce_acc = evaluate(k_ce, kd_test_dl)['acc']; k_test_sec = time.perf_counter() - t0
    print("kd_nb: KD student ...", flush=True)
    seed_everything(42); t0 = time.perf_counter()
    k_kd_hist = train_kd(teacher, k_kd, kd_train_dl2, epochs, lr, device, method=method, quiet=not verbose, desc='kd',
                         teacher_outputs=k_outputs)
    k_kd_wall = time.perf_counter() - t0 + k_pass
    k_kd_acc = evaluate(k_kd, kd_test_dl)['acc']

    s_kd_ep = [h['seconds'] for h in s_kd_hist]; k_kd_ep = [h['seconds'] for h in k_kd_hist]
    res = dict(
        settings=settings, hardware=hw, teacher=tinfo, students_same_init=same_init,
        seed=dict(data_loading_seconds=load_tut,   # 'seed': the file's key for the tutorial's pipeline
                  ce_epoch_seconds=mean([h['seconds'] for h in s_ce_hist]),
                  kd_epoch_seconds=mean(s_kd_ep), teacher_pass_seconds=None, kd_phase_seconds=sum(s_kd_ep),
                  acc_ce=s_ce_acc, acc_kd=s_kd_acc, ce_history=s_ce_hist, kd_history=s_kd_hist,
                  ce_wall_seconds=s_ce_wall, kd_wall_seconds=s_kd_wall, test_seconds=s_test_sec),
        kd_nb=dict(data_loading_seconds=load_kd, ce_epoch_seconds=mean([h['seconds'] for h in k_ce_hist]),
                   kd_epoch_seconds=mean(k_kd_ep), teacher_pass_seconds=k_pass,
                   kd_phase_seconds=k_pass + sum(k_kd_ep), acc_ce=k_ce_acc, acc_kd=k_kd_acc,
                   ce_history=k_ce_hist, kd_history=k_kd_hist,
                   ce_wall_seconds=k_ce_wall, kd_wall_seconds=k_kd_wall, test_seconds=k_test_sec))
    res['kd_speedup'] = res['seed']['kd_phase_seconds'] / res['kd_nb']['kd_phase_seconds']
    res['kd_overhead'] = res['kd_nb']['kd_epoch_seconds'] / res['kd_nb']['ce_epoch_seconds']
    try: hw['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    except OSError: pass
    res['seconds_total'] = time.perf_counter() - t_start

    print()
    print(table(res))
    print(f"\nPer-epoch times are means over {epochs} epochs; the whole KD phase is the sum of the KD epochs "
          f"(kd_nb: plus the one-time teacher-output pass). "
          f"Teacher: {tinfo['epochs']} epoch(s), "
          + (f"{tinfo['acc']:.2f}% test accuracy, " if tinfo['acc'] is not None else '') + f"{'reused from' if tinfo['reused'] else 'trained and cached in'} "
          f"{tinfo['path']}. Students start from the same weights: {same_init}. Total {res['seconds_total']:.0f} s.")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1))
        print(f"measurements written to {args.json}")
    print(f"kd_speedup={res['kd_speedup']:.2f} kd_overhead={res['kd_overhead']:.2f}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
