"""What distilling from stored views costs: a view cache's build, and an epoch of plain training, of KD from the cache and of KD with the teacher live, side by side.

    python bench/view_cache_speed.py [--views K] [--rounds N] [--mixup] [--subset N] [--teacher-weights PATH] [--json PATH]

On full CIFAR-10 with the tutorial's teacher and student (batch 64, Adam 1e-3, the precision `auto` picks), in this one process:

1. the build: `kd_nb.views.view_cache` for K views of every training image, in a fresh folder (so it is built, not reused);
2. one loader of those stored views for every student, so all three see the same pixels with the same augmentation;
3. `--rounds` times, alternating (a CPU's speed drifts over a long run; epochs measured minutes apart would compare the
   drift): one epoch of a fresh student with cross-entropy (`train`), one with KD from the cache (`train_kd`), and one with
   KD against the teacher running live on the same views (`train_kd(cache_teacher=False)`). An epoch's time is its
   history's `seconds`: training only, no evaluation.

The teacher's weights do not change its speed: without `--teacher-weights` it is the tutorial's architecture freshly
initialised (seed 0), which the JSON says. The last line is `cache_overhead=<KD-from-cache epoch / plain epoch>
live_ratio=<live-teacher epoch / KD-from-cache epoch>`, from the medians over the rounds.
"""
from __future__ import annotations
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from kd_nb.core import get_device, seed_everything, resolve_precision
from kd_nb.data import load_arrays, get_loaders, ViewSpec
from kd_nb.models import TeacherModel, StudentModel
from kd_nb.training import train, train_kd
from kd_nb.teachers import load_teacher
from kd_nb.views import view_cache
from kd_speed import hardware   # one description of the machine for every speed script
from seeded_runs import SHARED_DATA, data_dir_from

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--views', type=int, default=4, help="K, the views stored per image (default: 4; the build's time grows with K, the epochs' do not)")
    p.add_argument('--rounds', type=int, default=3, help="epochs of each kind, alternating (default: 3)")
    p.add_argument('--mixup', action='store_true', help="mixed views (the patient recipe's)")
    p.add_argument('--subset', type=int, default=None, help="training images (default: all 50,000)")
    p.add_argument('--data-dir', default=None, help=f"folder with cifar10.npz (default: $KD_NB_DATA, else {SHARED_DATA} if it exists)")
    p.add_argument('--teacher-weights', default=None, help="a trained tutorial teacher's state_dict (default: freshly initialised; the speed is the same)")
    p.add_argument('--cache-dir', default=None, help="where the view cache is built (default: a fresh temporary folder, deleted at the end)")
    p.add_argument('--device', default=None)
    p.add_argument('--threads', type=int, default=None, help="torch.set_num_threads for this run (default: torch's)")
    p.add_argument('--json', default=None, metavar='PATH', help="also write every measurement to this JSON file")
    a = p.parse_args(argv)
    if not 1 <= a.views <= 255: p.error(f"--views must be from 1 to 255, got {a.views}")
    if a.rounds < 1: p.error(f"--rounds must be at least 1, got {a.rounds}")
    return a

def epoch_seconds(kind:str, teacher, loader, device, seed:int) -> float:
    "One epoch of a fresh student: 'plain' (cross-entropy), 'cache' (KD from the stored views' logits) or 'live' (KD, the teacher on every batch)."
    seed_everything(seed); s = StudentModel()
    if kind == 'plain': return train(s, loader, 1, 1e-3, device, quiet=True)[0]['seconds']
    h = train_kd(teacher, s, loader, 1, 1e-3, device, quiet=True, cache_teacher=kind == 'cache')[0]
    if h['teacher_cached'] != (kind == 'cache'): raise RuntimeError(f"the {kind} epoch did not use the teacher as asked: {h}")
    return h['seconds']

def table(r:dict) -> str:
    m = r['median_seconds']
    rows = [(f"view cache build ({r['views']} views of {r['n_train']:,} images, one-time)", f"{r['build_seconds']:.1f} s", '—'),
            ('plain epoch (cross-entropy, stored views)', f"{m['plain']:.1f} s", '1.00×'),
            ('KD epoch from the view cache', f"{m['cache']:.1f} s", f"{m['cache'] / m['plain']:.2f}×"),
            ('KD epoch, teacher live on the same views', f"{m['live']:.1f} s", f"{m['live'] / m['plain']:.2f}×")]
    return '\n'.join(['| | seconds (median) | / plain epoch |', '|---|---:|---:|'] + [f"| {a} | {b} | {c} |" for a, b, c in rows])

def main(argv=None):
    a = parse_args(argv); t_start = time.perf_counter()
    if a.threads: torch.set_num_threads(a.threads)
    device = get_device(a.device); prec = resolve_precision('auto', device); hw = hardware()
    data = load_arrays('cifar10', data_dir_from(a.data_dir), a.subset)
    seed_everything(0)
    teacher = load_teacher(a.teacher_weights, 'teacher', data.info) if a.teacher_weights else TeacherModel()
    teacher = teacher.to(device).eval()
    print(f"hardware: {hw['cpu']}, {hw['cores_usable']} usable cores, torch {hw['torch']}, {hw['threads']} threads, {device}, {prec}; "
          f"{len(data.y_train):,} training images, K={a.views}{', mixup' if a.mixup else ''}", flush=True)
    loader = get_loaders(data, 64, device=device, seed=0)[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        views, rec = view_cache(teacher, loader, ViewSpec(k=a.views, mixup=a.mixup, seed=0), a.cache_dir or tmp, prec, device, rebuild=True)
        build = time.perf_counter() - t0
    print(f"build: {build:.1f} s for {a.views} views ({rec['seconds']:.1f} s of teacher passes)", flush=True)
    vloader = get_loaders(data, 64, device=device, seed=0, views=views)[0]
    per = {k: [] for k in ('plain', 'cache', 'live')}
    for r in range(a.rounds):
        for kind in per:
            per[kind].append(epoch_seconds(kind, teacher, vloader, device, r))
            print(f"round {r + 1}/{a.rounds}: {kind} epoch {per[kind][-1]:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in per.items()}
    res = dict(views=a.views, mixup=a.mixup, n_train=len(data.y_train), batch_size=64, precision=prec, device=str(device),
               teacher='tutorial TeacherModel, ' + (f"weights {Path(a.teacher_weights).name}" if a.teacher_weights else "freshly initialised (seed 0): its speed does not depend on its weights"),
               build_seconds=build, teacher_pass_seconds=rec['seconds'], cache_nbytes=rec['nbytes'],
               teacher_ms_per_64=1000 * rec['seconds'] / (a.views * len(data.y_train) / 64),
               seconds=per, median_seconds=med, cache_overhead=med['cache'] / med['plain'], live_ratio=med['live'] / med['cache'],
               hardware=hw, torch=torch.__version__, threads=torch.get_num_threads(), seconds_total=time.perf_counter() - t_start,
               command='python bench/view_cache_speed.py ' + ' '.join(sys.argv[1:] if argv is None else argv))
    print(table(res))
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1)); print(f"written to {a.json}")
    print(f"cache_overhead={res['cache_overhead']:.3f} live_ratio={res['live_ratio']:.2f}")
    return res

if __name__ == '__main__': main()
