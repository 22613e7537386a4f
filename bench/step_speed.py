"""Milliseconds per training step and per inference batch of the tutorial's models, by precision, memory layout and compilation.

    python bench/step_speed.py [--steps N] [--threads N] [--json PATH] [--no-compile]

For the tutorial's teacher and student, on batches of 64 random CIFAR-sized images on the CPU, it times `--steps` Adam steps
(forward under autocast, cross-entropy in float32, backward, step) and `--steps` inference batches (eval mode, no
gradients), after warm-up, in four arithmetic/layout variants: fp32, fp32 channels-last, bf16 autocast, bf16 autocast with
channels-last (kd_nb's `precision='bf16'`). Then, unless `--no-compile`, the last variant through `torch.compile` (default
mode): the compiled step's time and the compile time (the first compiled step's time minus a steady one), projected to a
10-epoch run on all 50,000 CIFAR-10 images (7,820 steps) as compile time + 7,820 compiled steps against 7,820 eager steps.
It prints a Markdown table and, last, `compile_speedup_teacher=<x> compile_speedup_student=<y>` (eager / compiled time of
those 10 epochs, compile time included; > 1 means compiling pays off).
"""
from __future__ import annotations
import argparse, json, os, sys, time
import torch, torch.nn.functional as F
from kd_nb.core import autocast, hardware_info, cpu_has_bf16
from kd_nb.models import TeacherModel, StudentModel

VARIANTS = (('fp32', False), ('fp32', True), ('bf16', False), ('bf16', True))
STEPS_10_EPOCHS = 782 * 10

def build(cls, cl):
    torch.manual_seed(0); m = cls()
    if cl: m = m.to(memory_format=torch.channels_last)
    return m, torch.optim.Adam(m.parameters(), 1e-3)

def batch(cl):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
    return (x.contiguous(memory_format=torch.channels_last) if cl else x), y

def train_ms(m, opt, x, y, prec, n):
    t0 = time.perf_counter()
    for _ in range(n):
        with autocast(prec, 'cpu'): out = m(x)
        loss = F.cross_entropy(out.float(), y); opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    return 1e3 * (time.perf_counter() - t0) / n

@torch.no_grad()
def infer_ms(m, x, prec, n):
    m.eval(); t0 = time.perf_counter()
    for _ in range(n):
        with autocast(prec, 'cpu'): m(x)
    m.train(); return 1e3 * (time.perf_counter() - t0) / n

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--steps', type=int, default=20, help="timed steps per measurement (default 20)")
    p.add_argument('--threads', type=int, default=None); p.add_argument('--json', default=None)
    p.add_argument('--no-compile', action='store_true', help="skip the torch.compile measurement")
    a = p.parse_args(argv)
    if a.steps < 1: p.error("--steps must be at least 1")
    if a.threads: torch.set_num_threads(a.threads)
    res = dict(steps=a.steps, cpu_has_bf16=cpu_has_bf16(), hardware=hardware_info())
    try: res['hardware']['loadavg_start'] = [round(v, 2) for v in os.getloadavg()]
    except OSError: pass
    n = a.steps
    for name, cls in (('teacher', TeacherModel), ('student', StudentModel)):
        r = res[name] = {}
        for prec, cl in VARIANTS:
            m, opt = build(cls, cl); x, y = batch(cl)
            train_ms(m, opt, x, y, prec, 3); infer_ms(m, x, prec, 3)
            key = prec + (' channels-last' if cl else '')
            r[key] = dict(train_ms=train_ms(m, opt, x, y, prec, n), infer_ms=infer_ms(m, x, prec, n))
            print(f"{name} {key}: train {r[key]['train_ms']:.1f} ms/step, inference {r[key]['infer_ms']:.1f} ms/batch", flush=True)
        if not a.no_compile:
            m, opt = build(cls, True); x, y = batch(True); cm = torch.compile(m)
            t0 = time.perf_counter(); train_ms(cm, opt, x, y, 'bf16', 1); first = 1e3 * (time.perf_counter() - t0)
            train_ms(cm, opt, x, y, 'bf16', 2); step = train_ms(cm, opt, x, y, 'bf16', n)
            eager = r['bf16 channels-last']['train_ms']
            c = r['compiled'] = dict(train_ms=step, compile_seconds=(first - step) / 1e3)
            c['eager_10_epochs_s'] = STEPS_10_EPOCHS * eager / 1e3
            c['compiled_10_epochs_s'] = c['compile_seconds'] + STEPS_10_EPOCHS * step / 1e3
            c['speedup'] = c['eager_10_epochs_s'] / c['compiled_10_epochs_s']
            print(f"{name} bf16 channels-last compiled: {step:.1f} ms/step, compile {c['compile_seconds']:.0f} s", flush=True)
    try: res['hardware']['loadavg_end'] = [round(v, 2) for v in os.getloadavg()]
    except OSError: pass
    if a.json: open(a.json, 'w').write(json.dumps(res, indent=1))
    print('\n' + table(res) + '\n')
    if not a.no_compile:
        print(f"compile_speedup_teacher={res['teacher']['compiled']['speedup']:.2f} compile_speedup_student={res['student']['compiled']['speedup']:.2f}")
    return 0

def table(res) -> str:
    keys = [p + (' channels-last' if cl else '') for p, cl in VARIANTS]
    lines = ['| ms | ' + ' | '.join(keys) + ' |', '|---|' + '---:|' * len(keys)]
    for name in ('teacher', 'student'):
        for what in ('train', 'infer'):
            label = f"{name}, {'training step' if what == 'train' else 'inference, 64 images'}"
            lines.append(f"| {label} | " + ' | '.join(f"{res[name][k][what + '_ms']:.1f}" for k in keys) + ' |')
    return '\n'.join(lines)

if __name__ == '__main__': sys.exit(main())
