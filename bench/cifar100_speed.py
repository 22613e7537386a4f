"""Speed of a distillation epoch of ResNet-56 -> ResNet-20 on CIFAR-100: the published pipeline as its code runs it, and
kd_nb's, side by side in one run on one machine.

    python bench/cifar100_speed.py [--images 12800] [--out nbs/results/cifar100_speed.json]

The published pipeline (RepDistiller's `train_student.py`, mdistiller's trainer): a torchvision `DataLoader` over PIL
images with per-image `RandomCrop(32, padding=4)`, `RandomHorizontalFlip`, `ToTensor` and `Normalize`, as many workers
as the machine has cores, batches of 64, shuffled; float32; the teacher run live on every batch (eval mode, no
gradients); SGD (momentum 0.9, weight decay 5e-4) on 0.1 x cross-entropy + 0.9 x KD at T = 4. It is written here in
plain PyTorch, as their loop is.

kd_nb's: `train_kd` on a `TensorLoader` of stored views (the images held as one uint8 tensor, each batch cut, cropped,
flipped and normalised as one tensor), the teacher's logits read from the view cache, `precision='auto'` (bf16 autocast
and channels-last where the CPU has native bf16), the same loss, optimizer and schedule. The view cache is built before
the timing and not counted: it is the teacher's one pass over each stored view, shared by every student and every
epoch (its cost is on the CIFAR-100 page).

Both time one pass over the same `--images` training images (default 12,800: 200 steps), after a warm-up, and the
epoch's time is that scaled to 50,000 images. The ratio is published / kd_nb. The script also counts the student's
training step in FLOPs (`torch.utils.flop_counter`) and times a large bf16 convolution, to print what share of this
CPU's attainable bf16 throughput the student's step reaches.
"""
from __future__ import annotations
import argparse, os, sys, time
from pathlib import Path
import torch, torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, data_dir_from, save_results
from kd_nb.core import hardware_info, resolve_precision, seed_everything
from kd_nb.data import load_arrays, synthetic_arrays, get_loaders, ViewSpec, CIFAR100_MEAN, CIFAR100_STD
from kd_nb.models import build_model
from kd_nb.training import train_kd
from kd_nb.views import view_cache

KD = 'kd(temperature=4, weight=0.9)+ce(weight=0.1)'
OUT = RESULTS/'cifar100_speed.json'

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=12_800, help="training images in the timed pass (default: 12,800, 200 steps)")
    p.add_argument('--workers', type=int, default=os.cpu_count(), help="the published pipeline's DataLoader workers (default: the cores)")
    p.add_argument('--synthetic', action='store_true', help="random images instead of CIFAR-100 (a check of the path; needs --out)")
    p.add_argument('--data-dir', default=None, help="folder with cifar100.npz (default: $KD_NB_DATA)")
    p.add_argument('--out', default=None, help=f"the results JSON (default: nbs/results/{OUT.name})")
    a = p.parse_args(argv)
    if a.images < 128: p.error("--images must be at least 128 (two batches)")
    if a.synthetic and a.out is None: p.error("a --synthetic run must not write the committed results: give --out PATH")
    a.out = Path(a.out) if a.out else OUT
    return a

class PILImages(torch.utils.data.Dataset):
    "CIFAR images as torchvision's CIFAR100 gives them: a PIL image per item, through `transform`."
    def __init__(self, x, y, transform): self.x, self.y, self.transform = x, y, transform
    def __len__(self): return len(self.y)
    def __getitem__(self, i):
        from PIL import Image
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])

def published_pass(x, y, workers:int, warmup:int=5) -> float:
    "Seconds of one pass of the published distillation loop over `x`, `y` (after `warmup` steps, not timed)."
    import torchvision.transforms as T
    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(CIFAR100_MEAN, CIFAR100_STD)])
    dl = torch.utils.data.DataLoader(PILImages(x, y, tf), batch_size=64, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
    seed_everything(0); teacher, student = build_model('cifar_resnet56', 100).eval(), build_model('cifar_resnet20', 100).train()
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    def step(xb, yb):
        with torch.no_grad(): t = teacher(xb)
        s = student(xb)
        kd = F.kl_div(F.log_softmax(s / 4, 1), F.softmax(t / 4, 1), reduction='batchmean') * 16
        loss = 0.1 * F.cross_entropy(s, yb) + 0.9 * kd
        opt.zero_grad(); loss.backward(); opt.step()
    for i, (xb, yb) in enumerate(dl):   # the warm-up: the workers start, the kernels are chosen
        step(xb, yb)
        if i + 1 == warmup: break
    t0 = time.perf_counter()
    for xb, yb in dl: step(xb, yb)
    return time.perf_counter() - t0

def kd_nb_pass(data, cache:Path) -> tuple:
    "Seconds of one pass of kd_nb's distillation (`train_kd`, stored views, logits from the cache), after a warm-up pass on two batches; and the precision."
    seed_everything(0); teacher = build_model('cifar_resnet56', 100)
    dl = get_loaders(data, 64, seed=0)[0]
    views, _ = view_cache(teacher, dl, ViewSpec(k=1, seed=0), cache, 'auto', quiet=True)   # not timed: built once for all students
    vdl = get_loaders(data, 64, seed=0, views=views)[0]
    warm = get_loaders(data.__class__(data.x_train[:128], data.y_train[:128], data.x_test, data.y_test, data.info), 64, seed=0,
                       views=views.__class__(views.spec, {k: v[:128] for k, v in views.params.items()}, views.logits[:128]))[0]
    run = lambda loader: train_kd(teacher, build_model('cifar_resnet20', 100), loader, 1, 0.05, method=KD, optimizer='sgd', schedule='step', quiet=True)
    run(warm)
    t0 = time.perf_counter(); h = run(vdl)
    return time.perf_counter() - t0, h[0]['precision']

def step_flops() -> int:
    "FLOPs of one training step of the student on a batch of 64 (forward and backward), as `torch.utils.flop_counter` counts them."
    from torch.utils.flop_counter import FlopCounterMode
    m = build_model('cifar_resnet20', 100); xb = torch.randn(64, 3, 32, 32); yb = torch.randint(0, 100, (64,))
    with FlopCounterMode(display=False) as fc: F.cross_entropy(m(xb), yb).backward()
    return fc.get_total_flops()

def bf16_peak(reps:int=10) -> float:
    "FLOP/s of a large bf16 convolution (64 images of 128 channels at 32×32, 3×3, 128 out, channels-last): what this CPU attains in bf16."
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    x = torch.randn(64, 128, 32, 32).to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16):
        conv(x); t0 = time.perf_counter()
        for _ in range(reps): conv(x)
        dt = time.perf_counter() - t0
    return reps * 2 * 128 * 128 * 9 * 32 * 32 * 64 / dt

def main(argv=None):
    a = parse_args(argv)
    data = synthetic_arrays('cifar100', a.images, 64) if a.synthetic else load_arrays('cifar100', data_dir_from(a.data_dir), a.images, 64, download=False)
    n = len(data.y_train)
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        t_ours, prec = kd_nb_pass(data, Path(cache))
    t_pub = published_pass(data.x_train, data.y_train, a.workers)
    steps = -(-n // 64); flops, peak = step_flops(), (bf16_peak() if resolve_precision('auto') == 'bf16' else None)
    ours_step = t_ours / steps
    res = dict(description=__doc__.split('\n\n')[0], images=n, steps=steps, workers=a.workers, hardware=hardware_info(),
               published=dict(seconds=t_pub, epoch_seconds=t_pub * 50_000 / n, precision='fp32', teacher='live'),
               kd_nb=dict(seconds=t_ours, epoch_seconds=t_ours * 50_000 / n, precision=prec, teacher='view cache'),
               ratio=t_pub / t_ours, student_step_flops=flops, bf16_peak_flops=peak,
               student_step_share_of_peak=None if peak is None else flops / ours_step / peak, measured=time.strftime('%Y-%m-%d %H:%M:%S'))
    save_results(a.out, res)
    print(f"{n:,} images, {steps} steps: published pipeline {t_pub:.1f} s, kd_nb {t_ours:.1f} s ({prec}): {res['ratio']:.2f}x; "
          f"an epoch of 50,000: {res['published']['epoch_seconds']:.0f} s against {res['kd_nb']['epoch_seconds']:.0f} s")
    if peak: print(f"the student's step: {flops / 1e9:.2f} GFLOP in {1000 * ours_step:.1f} ms (with the data and the loss), "
                   f"{flops / ours_step / 1e9:.0f} GFLOP/s: {100 * res['student_step_share_of_peak']:.0f}% of the {peak / 1e9:.0f} GFLOP/s "
                   "a large bf16 convolution reaches here")
    return res

if __name__ == '__main__': main()
