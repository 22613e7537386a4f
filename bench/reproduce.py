"""Does this machine give the same numbers as the one a committed run came from? Re-run the first epochs of one run of a results
file here and compare them with the file's history; the answer goes into the file's `reproductions`, which the statistics read.

    python bench/reproduce.py RESULTS ARM SEED [--epochs 1] -- BENCH [BENCH'S ARGUMENTS]

for example, with the kernels capped to AVX2 as the later sessions of that file were:

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python bench/reproduce.py nbs/results/patience_cifar10.json alone_200 42 \\
        -- bench/patience_cifar10.py --precision fp32 --only alone_200 --first-seed 42 --seeds 1

The bench runs as given, plus `--out` and `--work-dir` in a temporary folder (so nothing committed is touched), on a copy of
RESULTS without ARM's run for SEED, and with `KD_NB_STOP_AFTER=EPOCHS` (`kd_nb.training.stop_after`): it trains that one
student for the first EPOCHS epochs of its own schedule and stops, its checkpoint holding the history. Every number of those
epochs' history (train loss, accuracies, test or validation loss; not the seconds) is compared with the committed run's.

The record: the run, the epochs compared, `original` (the machine the committed run came from, `kd_nb.stats.machine_of`) and
`here` (this run's, from the session the bench recorded, so the kernels' caps count), `identical` and the numbers side by side.
`kd_nb.stats.paired_gain` then pairs runs of the two machines only if the record says identical (and records chain: A = B and
B = C link A and C). A record that found other numbers is kept too: it says these machines must not be paired.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seeded_runs import compare_epochs, fail, load_results, record_machines, save_results, session_machine
from kd_nb.training import load_checkpoint
from kd_nb.core import hardware_info
from kd_nb.stats import machine_of


def drop_run(res:dict, key:str, seed:int) -> dict:
    "`res` without `key`'s run for `seed` (every column of the entry)."
    e = res[key]; i = e['seeds'].index(seed)
    for k, v in e.items():
        if isinstance(v, list) and len(v) == len(e['seeds']) and k != 'seeds': v.pop(i)
    e['seeds'].pop(i)
    if not e['seeds']: del res[key]
    return res

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index('--') if '--' in argv else len(argv); bench = argv[cut + 1:]
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('results'); p.add_argument('arm'); p.add_argument('seed', type=int)
    p.add_argument('--epochs', type=int, default=1, help="the first epochs to re-run and compare (default: 1)")
    a = p.parse_args(argv[:cut])
    path = Path(a.results); res = json.loads(path.read_text())
    if a.arm not in res or a.seed not in res[a.arm].get('seeds', []): fail(f"{path} has no run of {a.arm} for seed {a.seed}")
    if a.epochs < 1: fail(f"--epochs must be at least 1, got {a.epochs}")
    if not bench: fail("give the bench after --: bench/reproduce.py RESULTS ARM SEED [--epochs N] -- BENCH [ARGS]")
    record_machines(res); e = res[a.arm]; i = e['seeds'].index(a.seed)
    old = e['history'][i][:a.epochs]
    if len(old) < a.epochs: fail(f"{a.arm} seed {a.seed} has {len(old)} epochs in {path}, fewer than --epochs {a.epochs}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp); out, work = tmp/'results.json', tmp/'work'
        out.write_text(json.dumps(drop_run(json.loads(path.read_text()), a.arm, a.seed)))
        cmd = [sys.executable, *bench, '--out', str(out), '--work-dir', str(work)]
        print('running:', ' '.join(cmd), flush=True); t0 = time.perf_counter()
        r = subprocess.run(cmd, env=dict(os.environ, KD_NB_STOP_AFTER=str(a.epochs)))
        names = (f'{a.arm}_seed{a.seed}.pt', f'{a.arm}.pt')   # `kd_nb.students.StudentPlan`'s names for a run's checkpoint
        cks, got = [f for f in work.rglob('*.pt') if f.name in names], json.loads(out.read_text())
        if len(cks) == 1: new = load_checkpoint(cks[0])['history'][:a.epochs]
        elif a.seed in got.get(a.arm, {}).get('seeds', []): new = got[a.arm]['history'][got[a.arm]['seeds'].index(a.seed)][:a.epochs]   # a run no longer than EPOCHS finished
        else: fail(f"the bench left {len(cks)} checkpoints named {' or '.join(names)} in {work} and no result for them (exit status {r.returncode}): "
                   f"did it run {a.arm} for seed {a.seed}?")
        # this machine: the session the bench recorded, or where it saved none before the stop, this process's (the same environment, caps included)
        grew = len(got.get('sessions', [])) > len(res.get('sessions', []))
        here = session_machine(got) if grew else machine_of(hardware_info(), res.get('settings', {}).get('precision'))
    if len(new) < a.epochs: fail(f"the re-run stopped after {len(new)} epoch(s), before the {a.epochs} to compare (exit status {r.returncode})")
    same, rows = compare_epochs(old, new)
    rec = dict(arm=a.arm, seed=a.seed, epochs=len(new), original=e['machine'][i], here=here,
               identical=same, compared=rows, seconds=time.perf_counter() - t0, date=time.strftime('%Y-%m-%d %H:%M'),
               command=' '.join(['python', 'bench/reproduce.py', *argv]), env={k: os.environ[k] for k in ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA') if k in os.environ})
    res = load_results(path, res['settings'])   # read again: the file may have grown meanwhile
    res.setdefault('reproductions', []).append(rec); save_results(path, res)
    print(f"{a.arm} seed {a.seed}, {len(new)} epoch(s): {'identical' if same else 'DIFFERENT'} on {rec['here']} and {rec['original']}")
    for n, row in enumerate(rows, 1): print(f"  epoch {n}: " + ', '.join(f"{k} {x!r} / {y!r}" for k, (x, y) in row.items()))
    print(f"recorded in {path} ('reproductions')")
    return rec

if __name__ == '__main__': main()
