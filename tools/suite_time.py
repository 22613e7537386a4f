"""Time the README's test command as CI runs it, and record the time with the machine in nbs/results/suite_time.json.

    python tools/suite_time.py [--data-dir DIR] [--pause PGID --paused WHAT]

The README's sentence on how long the tests take is made from this file (nbs/index.ipynb), so that the number comes from a
committed run with its hardware and date. `.ci/run` runs the tests through it too (its record to a scratch file), so that CI
and the recorded times run them one way. The command is the README's own line (`. .venv/bin/activate && nbdev_test`), run
from the repository root with `KD_NB_DATA` a fresh folder with CIFAR-10 linked into it (from --data-dir, else
../shared/data/cifar10; synthetic images when there is none) and `KD_NB_CACHE` a fresh, empty teacher cache. A background job
(a long benchmark) would slow the tests and make the time meaningless: `--pause PGID` stops its process group with SIGSTOP for
the run and resumes it with SIGCONT afterwards (also when the tests fail, or this script is stopped by Ctrl-C, SIGTERM or SIGHUP;
after a `kill -9` of it, resume the job by hand: `kill -CONT -PGID`), and the record says what was paused; the paused job's own
clock runs on meanwhile, so its timings include the pause.
A failed run is recorded too (`passed: false`), and the script exits with the tests' status.
"""
from __future__ import annotations
import argparse, json, os, re, signal, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kd_nb.core import atomic_write, hardware_info, resolve_precision
from kd_nb.stats import machine_of

OUT = ROOT/'nbs'/'results'/'suite_time.json'
SHARED = ROOT.parent/'shared'/'data'/'cifar10'

def test_command(readme:Path=ROOT/'README.md') -> str:
    "The README's test command: the line of its shell blocks that runs `nbdev_test` (the one `.ci/run` checks and runs)."
    blocks = re.findall(r'```sh\n(.*?)```', readme.read_text(), re.S)
    lines = [l.strip() for b in blocks for l in b.splitlines() if re.search(r'\bnbdev_test\b', l)]
    if len(lines) != 1: sys.exit(f"{readme} should have one shell line running nbdev_test; it has {len(lines)}")
    return lines[0]

def notebooks() -> int:
    "How many notebooks `nbdev_test` runs: those of nbs/ whose names do not start with '_'."
    return len([p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_')])

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data-dir', default=None, help=f"folder with cifar10.npz (default: {SHARED} if it has it; else synthetic images)")
    p.add_argument('--pause', type=int, default=None, metavar='PGID', help="a background job's process group, stopped (SIGSTOP) while the tests run")
    p.add_argument('--paused', default=None, metavar='WHAT', help="what that job is, for the record (needed with --pause)")
    p.add_argument('--out', default=str(OUT), help=f"the record (default: {OUT.relative_to(ROOT)})")
    a = p.parse_args(argv)
    if (a.pause is None) != (a.paused is None): p.error("--pause and --paused go together: the record says what was paused")
    if a.pause is not None:
        try: os.killpg(a.pause, 0)
        except ProcessLookupError: p.error(f"no process group {a.pause} to pause")
        if a.pause == os.getpgrp(): p.error(f"process group {a.pause} is this script's own: give the background job's")
    src = Path(a.data_dir) if a.data_dir else SHARED
    if a.data_dir and not (src/'cifar10.npz').is_file(): p.error(f"{src} has no cifar10.npz")
    a.cifar10 = src/'cifar10.npz' if (src/'cifar10.npz').is_file() else None
    return a

def run_tests(cmd:str, cifar10:Path|None, pause:int|None) -> tuple:
    "(exit status, seconds) of `cmd` run by bash from the repository root with a fresh data folder and teacher cache, `pause` stopped meanwhile."
    data, cache = tempfile.mkdtemp(prefix='kd_nb_data_'), tempfile.mkdtemp(prefix='kd_nb_cache_')
    if cifar10: os.symlink(cifar10.resolve(), Path(data)/'cifar10.npz')
    env = {**os.environ, 'KD_NB_DATA': data, 'KD_NB_CACHE': cache}
    for s in (signal.SIGTERM, signal.SIGHUP): signal.signal(s, lambda n, f: sys.exit(128 + n))   # unwind, so that `finally` resumes the job
    if pause is not None: os.killpg(pause, signal.SIGSTOP)
    try:
        start = time.perf_counter()
        rc = subprocess.run(['bash', '-c', cmd], cwd=ROOT, env=env).returncode
        return rc, time.perf_counter() - start
    finally:
        if pause is not None:
            try: os.killpg(pause, signal.SIGCONT)
            except ProcessLookupError: print(f"the paused process group {pause} has ended meanwhile")

def main(argv=None):
    a = parse_args(argv); cmd = test_command(); out = Path(a.out)
    res = json.loads(out.read_text()) if out.exists() else dict(runs=[])
    print(f"running: {cmd}" + (f" (process group {a.pause}, {a.paused}, paused meanwhile)" if a.pause is not None else ''), flush=True)
    date = time.strftime('%Y-%m-%d %H:%M'); rc, seconds = run_tests(cmd, a.cifar10, a.pause)
    hw = hardware_info()
    res['runs'].append(dict(date=date, seconds=round(seconds, 1), notebooks=notebooks(), passed=rc == 0, command=cmd,
                            machine=machine_of(hw, resolve_precision('auto')), hardware=hw, data='CIFAR-10' if a.cifar10 else 'synthetic',
                            cache='fresh', paused=a.paused))
    atomic_write(out, lambda t: t.write_text(json.dumps(res, indent=1)), 'the suite times')
    print(f"{'passed' if rc == 0 else 'FAILED'}: {notebooks()} notebooks in {seconds:.0f} s on {res['runs'][-1]['machine']}; recorded in {out}")
    sys.exit(rc)

if __name__ == '__main__': main()
