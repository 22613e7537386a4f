"""The structure rules of kd_nb, checked: run `python tools/structure_check.py` from the repository root (CI does).

1. No module of kd_nb imports a private name (`_x`) from another.
2. No notebook imports a module exported by a later-numbered notebook (the pages read in dependency order).
3. No function or class of kd_nb takes more than 6 positional parameters.
4. At most 15 command-line options are spelled out by hand in kd_nb (`add('--name', ...)`); the rest come from the settings' one definition.
5. A changed copy of a `Config` equals a new one with the same change (derived values are computed, not written back).
"""
from __future__ import annotations
import ast, dataclasses, importlib, inspect, json, pkgutil, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

def private_imports() -> list:
    bad = []
    for f in sorted((ROOT/'kd_nb').glob('*.py')):
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and (n.level or (n.module or '').startswith('kd_nb')):
                bad += [f"{f.name}: from {'.' * n.level}{n.module or ''} import {a.name}" for a in n.names if a.name.startswith('_')]
    return bad

def forward_imports() -> list:
    cells = lambda p: [''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'code']
    nbs = sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))
    owner = {m.group(1): p.name for p in nbs for s in cells(p) if (m := re.search(r'^#\|\s*default_exp\s+(\S+)', s, re.M))}
    bad = []
    for p in nbs:
        for s in cells(p):
            for m in re.finditer(r'(?:from\s+kd_nb\.(\w+)|import\s+kd_nb\.(\w+))', s):
                mod = m.group(1) or m.group(2)
                if mod in owner and owner[mod] > p.name: bad.append(f"{p.name} imports kd_nb.{mod}, exported by the later {owner[mod]}")
    return bad

def long_signatures(limit:int=6) -> list:
    import kd_nb
    bad = []
    for info in pkgutil.iter_modules(kd_nb.__path__):
        if info.name.startswith('_'): continue
        mod = importlib.import_module(f'kd_nb.{info.name}')
        for name, obj in vars(mod).items():
            if getattr(obj, '__module__', None) != mod.__name__: continue
            objs = [(name, obj)]
            if inspect.isclass(obj): objs += [(f"{name}.{k}", getattr(v, '__func__', v)) for k, v in vars(obj).items() if inspect.isfunction(getattr(v, '__func__', v))]
            for n, o in objs:
                try: ps = inspect.signature(o).parameters.values()
                except (TypeError, ValueError): continue
                k = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ('self', 'cls') for p in ps)
                if k > limit: bad.append(f"kd_nb.{info.name}.{n}: {k} positional parameters")
    return bad

def hand_options(limit:int=15) -> list:
    found = [(f.name, m.group(1)) for f in sorted((ROOT/'kd_nb').glob('*.py'))
             for m in re.finditer(r"""\b(?:add|add_argument)\(\s*['"](--[\w-]+)['"]""", f.read_text())]
    return [f"{len(found)} options spelled out by hand (at most {limit}): {', '.join(o for _, o in found)}"] if len(found) > limit else []

def config_copies() -> list:
    from kd_nb.config import Config
    cases = dict(teacher_arch='airbench94', epochs=30)
    return [f"replace(Config(), {k}={v!r}) differs from Config({k}={v!r})" for k, v in cases.items()
            if dataclasses.replace(Config(), **{k: v}) != Config(**{k: v})]

if __name__ == '__main__':
    checks = dict(private_imports=private_imports, forward_imports=forward_imports, long_signatures=long_signatures,
                  hand_options=hand_options, config_copies=config_copies)
    failed = 0
    for name, check in checks.items():
        bad = check()
        print(f"{name}: {'ok' if not bad else 'FAILED'}"); failed += bool(bad)
        for b in bad: print(f"  {b}")
    sys.exit(1 if failed else 0)
