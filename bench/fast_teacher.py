"""The fast teacher, airbench94 trained by kd_nb's recipe, on all of CIFAR-10 over seeds: accuracy with and without
test-time augmentation, and the training time of each.

    python bench/fast_teacher.py [--seeds 2] [--first-seed 42] [--epochs 10] [--subset N --test-subset N --out PATH]

Each seed S is `kd_nb.teachers.get_teacher(data, Config(teacher_arch='airbench94', seed=S))`: the road a comparison
takes, so each teacher lands in kd_nb's teacher cache, where the students of later runs find it (seed 42 is
`Config`'s default). Its training time (`seconds`) is `fit`'s, without evaluation; `acc` is the test accuracy without
test-time augmentation, `acc_tta` with airbench's (level 2: mirror and translate). The results are rewritten after
every seed (`bench/seeded_runs.py`'s bookkeeping) in nbs/results/fast_teacher_cifar10.json; a second start skips the
seeds already there, and a seed stopped by SIGTERM or killed resumes from its checkpoint (in the cache folder) at
the step (SIGTERM) or epoch (kill) where it stopped. Each seed's weights are written beside the results
(`fast_teacher_cifar10_seed<S>.safetensors`, about 8 MB), their file and fingerprint in the `weights` column and the machine that
trained them in `machine` (one value per seed, like `acc`, as in the students' files): commit them, so that the
patience curve's arms can go on from them on another machine. `bench/teacher_speed.py` adds the side-by-side timing to the
same file. A quick check of the whole path: `--subset 2048 --test-subset 500 --epochs 1 --out /tmp/f.json`.

A seed trained before its weights were kept can get them back from a re-run, if the re-run is the same teacher: train it
again into another file and another cache folder (`--first-seed S --seeds 1 --out RERUN --cache-dir EMPTY`, on the first
run's machine or one that a reproduction record links to it), then `--adopt RERUN` compares each of RERUN's seeds with the
same seed in the results (every epoch's loss and training accuracy, the test accuracy with and without TTA, the teacher's
key) and records the comparison in `reproductions`; where they are identical and the seed has no weights yet, the re-run's
become the seed's (copied beside the results, their fingerprint in `weights`). Nothing trains; a seed the re-run read from
a teacher cache instead of training it is refused.
"""
from __future__ import annotations
import argparse, json, shutil, sys, time
import safetensors.torch
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import RESULTS, SHARED_DATA, add_row, compare_epochs, data_dir_from, fail, load_results, resolved, save_results, session_machine, start_session
from kd_nb.core import get_device
from kd_nb.data import dataset_info, load_arrays, get_loaders
from kd_nb.models import count_params
from kd_nb.training import evaluate, TrainingStopped, stop_on_signals
from kd_nb.config import Config
from kd_nb.teachers import default_cache_dir, get_teacher, load_teacher, teacher_key
from kd_nb.views import weights_fingerprint

OUT = RESULTS/'fast_teacher_cifar10.json'

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, default=2, help="number of seeds: --first-seed, --first-seed + 1, ... (default: 2)")
    p.add_argument('--first-seed', type=int, default=42, help="the first seed (default: 42, Config's)")
    p.add_argument('--epochs', type=int, default=10, help="the teacher's epochs (default: 10, the recipe's)")
    p.add_argument('--subset', type=int, default=None, help="training images used, a fixed random sample (default: all 50000); needs --out")
    p.add_argument('--test-subset', type=int, default=None, help="test images used (default: all 10000)")
    p.add_argument('--precision', default='auto', help="auto, fp32, bf16 or fp16 (default: auto)")
    p.add_argument('--out', default=None, help=f"the results JSON (default: nbs/results/{OUT.name})")
    p.add_argument('--data-dir', default=None, help=f"folder with cifar10.npz (default: $KD_NB_DATA, else {SHARED_DATA} if it exists)")
    p.add_argument('--cache-dir', default=None, help="the teacher cache (default: $KD_NB_CACHE or ~/.cache/kd_nb/teachers)")
    p.add_argument('--device', default=None); p.add_argument('--verbose', action='store_true', help="progress bars and per-epoch lines")
    p.add_argument('--adopt', default=None, metavar='RERUN', help="a re-run's results file: give its weights to the seeds it reproduces (see above); trains nothing")
    a = p.parse_args(argv)
    for k in ('seeds', 'epochs', 'subset', 'test_subset'):
        if getattr(a, k) is not None and getattr(a, k) < 1: fail(f"--{k.replace('_', '-')} must be at least 1")
    if a.subset is not None and a.out is None: fail("a --subset run must not write the committed results: give --out PATH")
    a.out, a.seed_list = Path(a.out) if a.out else OUT, list(range(a.first_seed, a.first_seed + a.seeds))
    return a

OPTIONAL = ('weights', 'machine')   # columns that seeds run before 2026-12-07 lack (None where they do)

def column(res:dict, k:str) -> list:
    "The column `k` of `res`, one value per seed; None for each seed when the file has no such column (seeds run before it existed)."
    return res.get(k) or [None] * len(res.get('seeds', []))

SKIP = ('seconds', 'lr')   # not compared: the time, and the learning rate (logged for another parameter group before 2026-12-07)

def adopt(out:Path, rerun:Path):
    "Compare `rerun`'s seeds with `out`'s; record each comparison, and give `out` the weights of each seed `rerun` reproduces that has none yet."
    if not out.is_file() or not rerun.is_file(): fail(f"--adopt needs both files: {out} and {rerun}")
    if out.resolve() == rerun.resolve(): fail(f"--adopt needs a re-run's results file, not {out} itself")
    res, new = json.loads(out.read_text()), json.loads(rerun.read_text())
    if res['settings'] != new['settings']: fail(f"{rerun} was made with other settings than {out}: {new['settings']} against {res['settings']}")
    recs, copies = [], []
    for seed in new.get('seeds', []):   # every seed checked before anything is written
        if seed not in res.get('seeds', []): print(f"seed {seed}: not in {out.name}, nothing to compare"); continue
        i, j = res['seeds'].index(seed), new['seeds'].index(seed)
        here = column(new, 'machine')[j]
        if not here: fail(f"seed {seed} of {rerun} was not trained by that run (it came from a teacher cache, or the file predates `machine`): "
                          "re-run it with --cache-dir set to an empty folder")
        if not (res['history'][i] and new['history'][j]): fail(f"seed {seed} has no per-epoch history in {out if not res['history'][i] else rerun}: nothing to compare")
        same, rows = compare_epochs(res['history'][i], new['history'][j], SKIP)
        rows += [{k: [res[k][i], new[k][j]]} for k in ('acc', 'acc_tta', 'teacher_keys')]
        w, old_w = column(new, 'weights')[j], column(res, 'weights')[i]
        if w and weights_fingerprint(load_teacher(rerun.with_name(w['file']), 'airbench94', dataset_info('cifar10'))) != w['fingerprint']:   # the file as it is
            fail(f"{rerun.with_name(w['file'])} does not hold the weights {rerun} names ({w['fingerprint']})")
        same = (same and len(res['history'][i]) == len(new['history'][j]) and all(u == v for r in rows[-3:] for u, v in r.values())
                and not (w and old_w and w['fingerprint'] != old_w['fingerprint']))
        original = column(res, 'machine')[i] or (session_machine(res, None) if len(res.get('sessions', [])) <= 1 else 'not recorded')
        recs.append(dict(arm='teacher', seed=seed, epochs=len(rows) - 3, original=original, here=here, identical=same, compared=rows,
                         weights=w and w['fingerprint'], rerun=dict(argv=new['sessions'][-1]['argv'], seconds=new['seconds'][j]),
                         date=time.strftime('%Y-%m-%d %H:%M'), command=' '.join(['python', *sys.argv])))
        if same and w and not old_w: copies.append((i, seed, w))   # weights the seed already has are never replaced
        print(f"seed {seed}: {'identical' if same else 'DIFFERENT'} on {here} and {original}" + (f"; its weights {w['fingerprint']} adopted" if same and w and not old_w else ''))
    for i, seed, w in copies:
        dst = out.with_name(f"{out.stem}_seed{seed}.safetensors"); shutil.copyfile(rerun.with_name(w['file']), dst)
        res['weights'] = column(res, 'weights'); res['weights'][i] = dict(file=dst.name, fingerprint=w['fingerprint'], from_rerun=True)
    res.setdefault('reproductions', []).extend(recs); save_results(out, res)

def main(argv=None):
    a = parse_args(argv)
    if a.adopt: return adopt(a.out, Path(a.adopt))
    device = get_device(a.device); prec = resolved(a.precision, device)
    data = load_arrays('cifar10', data_dir_from(a.data_dir), subset=a.subset, test_subset=a.test_subset)
    test_dl = get_loaders(data, 500, device=device)[1]
    settings = dict(arch='airbench94', recipe='airbench', epochs=a.epochs, precision=prec, n_train=len(data.y_train), n_test=len(data.y_test))
    res = start_session(load_results(a.out, settings)); res.update(n_train=len(data.y_train), n_test=len(data.y_test))
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    for seed in a.seed_list:
        if seed in res.get('seeds', []): print(f"seed {seed}: in {a.out.name} already"); continue
        cfg = Config(teacher_arch='airbench94', seed=seed, epochs=a.epochs, teacher_epochs=a.epochs, precision=prec)
        ck = cache/f"teacher-{teacher_key(data, cfg, precision=prec)}.ckpt"
        with stop_on_signals():
            try: t, rec = get_teacher(data, cfg, cache, device=device, quiet=not a.verbose, checkpoint=ck, resume=True, precision=prec)
            except TrainingStopped as e: print(e); sys.exit(e.exit_status)
        acc, acc_tta = evaluate(t, test_dl, precision=prec)['acc'], evaluate(t, test_dl, precision=prec, tta=2)['acc']
        w = a.out.with_name(f"{a.out.stem}_seed{seed}.safetensors")   # committed with the results: a new machine reuses it instead of retraining
        w.parent.mkdir(parents=True, exist_ok=True); safetensors.torch.save_file(t.state_dict(), str(w))   # (retrained on other CPU kernels, it has other weights)
        add_row(res, dict(seeds=seed, acc=acc, acc_tta=acc_tta, seconds=rec['seconds'], teacher_keys=rec['key'], history=rec['history'],
                          weights=dict(file=w.name, fingerprint=weights_fingerprint(t)),
                          machine=None if rec['reused'] else session_machine(res)), OPTIONAL)   # where it trained (None: read from the cache), what a re-run is compared with
        res['params'] = count_params(t); save_results(a.out, res)
        print(f"seed {seed}: acc {acc:.2f}%, with TTA {acc_tta:.2f}%, trained in {rec['seconds']:.0f} s ({'cache' if rec['reused'] else 'trained here'})", flush=True)
        if ck.exists(): ck.unlink()

if __name__ == '__main__': main()
