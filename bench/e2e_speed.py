"""The tutorial's whole experiment, phase by phase, in the tutorial's pipeline and in kd_nb's defaults: how much faster is kd_nb?

    python bench/e2e_speed.py [--subset N] [--test-subset N] [--epochs N] [--precision P] [--json PATH] [--threads N]

In this one process, on the same data (CIFAR-10: `$KD_NB_DATA`, else ../shared/data/cifar10) and batch size (64):

* the tutorial (bench/tutorial_pipeline.py, its code): PIL images through `ToTensor` + `Normalize` and a `DataLoader`,
  float32, the teacher trained with cross-entropy, a student with cross-entropy, a student distilled with the teacher's
  forward pass on every batch of every epoch;
* kd_nb, with its defaults: uint8 images in one tensor (`TensorLoader`), `precision='auto'` (bfloat16 autocast and
  channels-last where the CPU or GPU computes bfloat16 natively, else float32), the teacher's outputs computed once
  (`train_kd`'s teacher pass, counted in its KD phase).

Each phase (teacher, CE student, KD student) runs for `--epochs` epochs in both pipelines; the time of a phase is the
sum of its epochs' training time (kd_nb's KD phase adds its one-time teacher pass); evaluation is not counted.
It prints a Markdown table and, last, the line `e2e_speedup=<x> teacher_speedup=<y> kd_speedup=<z>`: the tutorial's time
over kd_nb's for all three phases together, for the teacher, and for the KD phase. With `--project-epochs P` it also gives each
phase's time for P epochs, computed from the measured ones (its one-time work, kd_nb's teacher pass, plus P times its
mean epoch: epochs cost the same from the first on), and the last line holds the speed-ups for P epochs; a full-data
run of 2 measured epochs projected to the tutorial's 10 takes about half an hour on a 2-core CPU instead of an hour and a
half. The measurements are also written, phase by phase as they finish, to `--json` (the tutorial's under the key
"seed").

A quick run: `--subset 5000 --epochs 1` (a few minutes on a 2-core CPU).
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
import tutorial_pipeline as tutorial
from kd_nb.core import get_device, seed_everything, hardware_info, resolve_precision, PRECISIONS
from kd_nb.data import load_arrays, get_loaders
from kd_nb.models import TeacherModel, StudentModel
from kd_nb.training import train, train_kd, evaluate

from seeded_runs import SHARED_DATA, data_dir_from   # one rule for where the data is, in every script

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--subset', type=int, default=None, help="training images used (a fixed random sample; default: all 50000)")
    p.add_argument('--test-subset', type=int, default=None, help="test images used (default: all 10000)")
    p.add_argument('--epochs', type=int, default=10, help="epochs of each phase, in each pipeline (default: 10, the tutorial's)")
    p.add_argument('--project-epochs', type=int, default=None, metavar='P',
                   help="also give each phase's time for P epochs, from the measured ones: its one-time work (kd_nb's teacher pass) "
                        "plus P times its mean epoch; the speed-ups of the last line are then those for P epochs")
    p.add_argument('--precision', choices=PRECISIONS, default='auto', help="kd_nb's precision (default: auto, kd_nb's default)")
    p.add_argument('--data-dir', default=None, help=f"folder with cifar10.npz (default: $KD_NB_DATA, else {SHARED_DATA})")
    p.add_argument('--batch-size', type=int, default=64, help="the tutorial's 64 (default)")
    p.add_argument('--device', default=None, help="default: the accelerator if there is one, else the CPU")
    p.add_argument('--threads', type=int, default=None, help="torch.set_num_threads for this run (default: torch's)")
    p.add_argument('--json', default=None, metavar='PATH', help="write the measurements here, after each phase")
    a = p.parse_args(argv)
    for k in ('subset', 'test_subset', 'threads', 'epochs', 'batch_size', 'project_epochs'):
        v = getattr(a, k)
        if v is not None and v < 1: p.error(f"--{k.replace('_', '-')} must be at least 1, got {v}")
    return a

def ratio(a, b): return a / b if b else float('nan')

def project(r, P:int) -> dict:
    "Each phase's time for `P` epochs: its one-time work (kd_nb's teacher pass) plus `P` times its mean measured epoch."
    E, s, k = r['settings']['epochs'], r['seed'], r['kd_nb']
    per = lambda sec, once=0: once + (sec - once) / E * P
    ps = {f"{ph}_seconds": per(s[f"{ph}_seconds"]) for ph in ('teacher', 'ce', 'kd')}
    pk = dict(teacher_seconds=per(k['teacher_seconds']), ce_seconds=per(k['ce_seconds']), kd_seconds=per(k['kd_seconds'], k['teacher_pass_seconds']))
    for d in (ps, pk): d['total_seconds'] = d['teacher_seconds'] + d['ce_seconds'] + d['kd_seconds']
    return dict(epochs=P, from_epochs=E, seed=ps, kd_nb=pk, e2e_speedup=ratio(ps['total_seconds'], pk['total_seconds']),
                teacher_speedup=ratio(ps['teacher_seconds'], pk['teacher_seconds']), kd_speedup=ratio(ps['kd_seconds'], pk['kd_seconds']))

def projected_table(r) -> str:
    p = r['projected']; s, k, P = p['seed'], p['kd_nb'], p['epochs']
    rows = [(f"teacher, {P} epochs", 'teacher'), (f"student (cross-entropy), {P} epochs", 'ce'),
            (f"student (KD), {P} epochs (kd_nb: teacher pass included)", 'kd'), ("all three phases", 'total')]
    lines = [f"| phase, projected from {p['from_epochs']} measured epochs | tutorial (fp32) | kd_nb ({r['precision']}) | speed-up |", '|---|---:|---:|---:|']
    lines += [f"| {n} | {s[f'{m}_seconds']:.0f} s | {k[f'{m}_seconds']:.0f} s | {ratio(s[f'{m}_seconds'], k[f'{m}_seconds']):.2f}× |" for n, m in rows]
    return '\n'.join(lines)

def table(r) -> str:
    s, k, e = r['seed'], r['kd_nb'], r['settings']['epochs']
    rows = [(f"teacher, {e} epochs", s['teacher_seconds'], k['teacher_seconds']),
            (f"student (cross-entropy), {e} epochs", s['ce_seconds'], k['ce_seconds']),
            (f"student (KD), {e} epochs" + " (kd_nb: teacher pass included)", s['kd_seconds'], k['kd_seconds']),
            ("all three phases", s['total_seconds'], k['total_seconds'])]
    lines = [f"| phase | tutorial (fp32) | kd_nb ({r['precision']}) | speed-up |", '|---|---:|---:|---:|']
    lines += [f"| {n} | {a:.1f} s | {b:.1f} s | {ratio(a, b):.2f}× |" for n, a, b in rows]
    lines += [f"| accuracy: {n} | {s['acc'][m]:.2f}% | {k['acc'][m]:.2f}% | |"
              for n, m in (('teacher', 'teacher'), ('student', 'student'), ('distilled student', 'student_kd'))]
    lines += [f"| kd_nb: KD epoch / CE epoch | | {k['kd_overhead']:.2f} | |"]
    return '\n'.join(lines)

def main(argv=None):
    a = parse_args(argv); t_start = time.perf_counter()
    if a.threads: torch.set_num_threads(a.threads)
    device = get_device(a.device); prec = resolve_precision(a.precision, device)
    data = load_arrays('cifar10', data_dir_from(a.data_dir), a.subset, a.test_subset, download=False)
    bs, E, lr, T, ws, wc = a.batch_size, a.epochs, 1e-3, 2.0, 0.25, 0.75   # the tutorial's
    method = f"kd(temperature={T}, weight={ws})+ce(weight={wc})"   # the tutorial's KD: kd_nb's default 'kd'
    res = dict(settings=dict(n_train=len(data.y_train), n_test=len(data.y_test), epochs=E, batch_size=bs, lr=lr, temperature=T,
                             soft_target_loss_weight=ws, ce_loss_weight=wc, device=str(device)),
               precision=prec, hardware=hardware_info(), seed={}, kd_nb={})   # 'seed': the file's key for the tutorial's pipeline
    try: res['hardware']['loadavg_start'] = [round(x, 2) for x in os.getloadavg()]
    except OSError: pass
    def save():
        if a.json: Path(a.json).parent.mkdir(parents=True, exist_ok=True); Path(a.json).write_text(json.dumps(res, indent=1))
    def log(msg): print(f"[{time.perf_counter() - t_start:7.0f} s] {msg}", flush=True)
    log(f"{res['settings']['n_train']} training images, {E} epochs per phase, batch {bs}, device {device}; kd_nb precision {prec}")

    # the tutorial's pipeline
    s = res['seed']; s_train, s_test = tutorial.tutorial_loaders(data.x_train, data.y_train, data.x_test, data.y_test, batch_size=bs)
    seed_everything(42); teacher = tutorial.TeacherModel().to(device)
    log("tutorial: teacher ..."); h = tutorial.train(teacher, s_train, E, lr, device, verbose=False)
    s['teacher_seconds'] = sum(r['seconds'] for r in h); s['acc'] = dict(teacher=tutorial.test(teacher, s_test, device, verbose=False)); save()
    log(f"tutorial: teacher {s['teacher_seconds']:.0f} s, {s['acc']['teacher']:.2f}%; CE student ...")
    seed_everything(42); st = tutorial.StudentModel().to(device); h = tutorial.train(st, s_train, E, lr, device, verbose=False)
    s['ce_seconds'] = sum(r['seconds'] for r in h); s['acc']['student'] = tutorial.test(st, s_test, device, verbose=False); save()
    log(f"tutorial: CE student {s['ce_seconds']:.0f} s, {s['acc']['student']:.2f}%; KD student ...")
    seed_everything(42); sk = tutorial.StudentModel().to(device)
    h = tutorial.train_knowledge_distillation(teacher, sk, s_train, E, lr, device, temperature=T, soft_target_loss_weight=ws,
                                          ce_loss_weight=wc, verbose=False)
    s['kd_seconds'] = sum(r['seconds'] for r in h); s['acc']['student_kd'] = tutorial.test(sk, s_test, device, verbose=False)
    s['total_seconds'] = s['teacher_seconds'] + s['ce_seconds'] + s['kd_seconds']; save()
    log(f"tutorial: KD student {s['kd_seconds']:.0f} s, {s['acc']['student_kd']:.2f}%")

    # kd_nb, its defaults
    k = res['kd_nb']; k_train, k_test = get_loaders(data, bs, device=device, seed=42)
    log("kd_nb: teacher ...")
    seed_everything(42); teacher = TeacherModel()
    h = train(teacher, k_train, E, lr, device, quiet=True, precision=prec)
    k['teacher_seconds'] = sum(r['seconds'] for r in h); k['acc'] = dict(teacher=evaluate(teacher, k_test, precision=prec)['acc']); save()
    log(f"kd_nb: teacher {k['teacher_seconds']:.0f} s, {k['acc']['teacher']:.2f}%; CE student ...")
    seed_everything(42); st = StudentModel()
    h_ce = train(st, get_loaders(data, bs, device=device, seed=42)[0], E, lr, device, quiet=True, precision=prec)
    k['ce_seconds'] = sum(r['seconds'] for r in h_ce); k['acc']['student'] = evaluate(st, k_test, precision=prec)['acc']; save()
    log(f"kd_nb: CE student {k['ce_seconds']:.0f} s, {k['acc']['student']:.2f}%; KD student ...")
    seed_everything(42); sk = StudentModel()
    h_kd = train_kd(teacher, sk, get_loaders(data, bs, device=device, seed=42)[0], E, lr, device, method=method, quiet=True, precision=prec)
    k['teacher_pass_seconds'] = h_kd[0]['teacher_pass_seconds']
    k['kd_seconds'] = k['teacher_pass_seconds'] + sum(r['seconds'] for r in h_kd)
    k['kd_overhead'] = ratio(sum(r['seconds'] for r in h_kd), k['ce_seconds'])
    k['acc']['student_kd'] = evaluate(sk, k_test, precision=prec)['acc']
    k['total_seconds'] = k['teacher_seconds'] + k['ce_seconds'] + k['kd_seconds']
    log(f"kd_nb: KD student {k['kd_seconds']:.0f} s (teacher pass {k['teacher_pass_seconds']:.0f} s), {k['acc']['student_kd']:.2f}%")

    res.update(e2e_speedup=ratio(s['total_seconds'], k['total_seconds']), teacher_speedup=ratio(s['teacher_seconds'], k['teacher_seconds']),
               kd_speedup=ratio(s['kd_seconds'], k['kd_seconds']), seconds_total=time.perf_counter() - t_start)
    try: res['hardware']['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    except OSError: pass
    if a.project_epochs: res['projected'] = project(res, a.project_epochs)
    save()
    print('\n' + table(res) + '\n')
    last = res
    if a.project_epochs:
        print(f"measured over {E} epoch(s): e2e {res['e2e_speedup']:.2f}×, teacher {res['teacher_speedup']:.2f}×, KD phase {res['kd_speedup']:.2f}×\n")
        print(projected_table(res) + '\n')
        print(f"projected to {a.project_epochs} epochs (each phase: its one-time work plus {a.project_epochs} times its mean measured epoch):")
        last = res['projected']
    print(f"e2e_speedup={last['e2e_speedup']:.2f} teacher_speedup={last['teacher_speedup']:.2f} kd_speedup={last['kd_speedup']:.2f}")
    return 0

if __name__ == '__main__':
    sys.exit(main())
