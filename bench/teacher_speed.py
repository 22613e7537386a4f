"""The fast teacher's training time against the tutorial teacher's, measured side by side on one machine, split into
data, forward, backward and optimizer.

    python bench/teacher_speed.py [--steps-tutorial 40] [--steps-fast 4] [--rounds 2] [--out PATH]

Both train as kd_nb trains them, in the precision `auto` picks: the tutorial's teacher (`TeacherModel`, batches of 64,
Adam at 1e-3, cross-entropy: `kd_nb.training.train`'s step) and airbench94 (`Airbench94`, batches of 1024 with
airbench's augmentation, `AirbenchSGD`, label smoothing 0.2, `Lookahead`: `train_fast_teacher`'s step), on CIFAR-10
training images. Each round times one warm-up step and then `--steps-*` steps of each model in turn (tutorial, fast,
tutorial, fast, ...), with the time of every step split into making the batch, the forward pass with the loss, the
backward pass, and the optimizer (with the schedule and the lookahead); the medians over the rounds, per image, times
50,000 images give each model's seconds per epoch. The last line is `time_ratio=`: the fast teacher's 10 epochs over the
tutorial teacher's 10. The numbers are written into nbs/results/fast_teacher_cifar10.json (the other keys are kept).
"""
from __future__ import annotations
import argparse, json, statistics, sys, time
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, data_dir_from, resolved
from kd_nb.core import get_device, seed_everything, autocast, hardware_info, atomic_write
from kd_nb.data import load_arrays, TensorLoader
from kd_nb.models import TeacherModel, Airbench94, init_whitening
from kd_nb.training import TrainState, ce_loss
from kd_nb.fast_teacher import Lookahead, TrainFirst, AirbenchSGD, smoothed_ce

EPOCH_IMAGES, EPOCHS = 50_000, 10

def setup(kind, data, device, prec, steps):
    "A `TrainState` of one teacher as kd_nb trains it, on enough images for the warm-up and the timed steps."
    fast = kind == 'fast'; bs = 1024 if fast else 64; n = bs * (steps + 1)
    dl = TensorLoader(data.x_train[:n], data.y_train[:n], batch_size=bs, shuffle=True, seed=0, mean=data.info.mean, std=data.info.std,
                      device=device, augment='airbench' if fast else False)
    seed_everything(0); model = Airbench94() if fast else TeacherModel()
    if fast:
        init_whitening(model, dl.normalize(dl.x[:5000]))
        return TrainState.create(model, dl, smoothed_ce(0.2), EPOCHS, 11.5, device, precision=prec, optimizer=AirbenchSGD(batch_size=bs),
                                 callbacks=[TrainFirst(), Lookahead()])
    return TrainState.create(model, dl, ce_loss, EPOCHS, 1e-3, device, precision=prec)

def timed_steps(st, steps) -> dict:
    "Seconds per image of each part of a training step, the medians over `steps` steps after one warm-up step."
    parts = dict(data=[], forward=[], backward=[], optimizer=[])
    st.model.train(); [cb.before_epoch(st) for cb in st.callbacks if hasattr(cb, 'before_epoch')]
    it = st.loader.steps()
    for i in range(steps + 1):
        t0 = time.perf_counter(); xb, yb, idx, n, _ = next(it)
        if st.channels_last: xb = xb.contiguous(memory_format=torch.channels_last)
        t1 = time.perf_counter()
        with autocast(st.precision, st.device): loss = st.loss_fn(st.model, xb, yb, idx)[0]
        t2 = time.perf_counter(); st.opt.zero_grad(set_to_none=True); loss.backward(); t3 = time.perf_counter()
        st.opt.step()
        if st.scheduler is not None: st.scheduler.step()
        for cb in st.callbacks:
            if hasattr(cb, 'after_step'): cb.after_step(st)
        t4 = time.perf_counter()
        if i: [parts[k].append(v / n) for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3))]
    return {k: statistics.median(v) for k, v in parts.items()}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--steps-tutorial', type=int, default=40); p.add_argument('--steps-fast', type=int, default=4)
    p.add_argument('--rounds', type=int, default=2); p.add_argument('--precision', default='auto')
    p.add_argument('--out', default=str(RESULTS/'fast_teacher_cifar10.json')); p.add_argument('--data-dir', default=None)
    p.add_argument('--device', default=None)
    a = p.parse_args(argv)
    device = get_device(a.device); prec = resolved(a.precision, device)
    data = load_arrays('cifar10', data_dir_from(a.data_dir))
    runs = dict(tutorial=[], fast=[])
    for r in range(a.rounds):
        for kind, steps in (('tutorial', a.steps_tutorial), ('fast', a.steps_fast)):
            runs[kind].append(timed_steps(setup(kind, data, device, prec, steps), steps))
            print(f"round {r + 1}, {kind}: " + ', '.join(f"{k} {v * 1e3:.3f} ms/image" for k, v in runs[kind][-1].items()), flush=True)
    split = {kind: {k: statistics.median(x[k] for x in v) * EPOCH_IMAGES for k in v[0]} for kind, v in runs.items()}
    per_epoch = {kind: sum(s.values()) for kind, s in split.items()}
    ratio = per_epoch['fast'] * EPOCHS / (per_epoch['tutorial'] * EPOCHS)
    out = Path(a.out); res = json.loads(out.read_text()) if out.exists() else {}
    res.update(tutorial_teacher_seconds_per_epoch=per_epoch['tutorial'], fast_teacher_seconds_per_epoch=per_epoch['fast'], time_ratio=ratio,
               step_split_seconds_per_epoch=split, speed_precision=prec, speed_hardware=hardware_info(), speed_measured=time.strftime('%Y-%m-%d %H:%M:%S'),
               speed_argv=sys.argv[1:])
    atomic_write(out, lambda t: t.write_text(json.dumps(res, indent=1)), 'the results')
    for kind, s in split.items():
        print(f"{kind} teacher: {per_epoch[kind]:.0f} s per epoch of {EPOCH_IMAGES:,} images (" + ', '.join(f"{k} {v:.0f} s" for k, v in s.items()) + ")")
    print(f"time_ratio={ratio:.3f}")

if __name__ == '__main__': main()
