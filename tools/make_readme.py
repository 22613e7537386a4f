"""Make README.md from nbs/index.ipynb without Quarto (what `nbdev_readme` does with it).

`python tools/make_readme.py` writes README.md; `--check` exits 1 if README.md is not up to date.
Hidden cells are dropped, `#| echo: false` cells show only their outputs, and image paths are made
relative to the repository root."""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r'^\s*#\|\s*(.*)$')

def _directives(src):
    return [m.group(1).strip() for m in map(DIRECTIVE.match, src.splitlines()) if m]

def readme_text(nb_path=ROOT/'nbs'/'index.ipynb'):
    nb = nbformat.read(nb_path, as_version=4)
    cells = []
    for c in nb.cells:
        if c.cell_type == 'code':
            ds = _directives(c.source)
            if any(d in ('hide', 'exporti', 'export') or d.startswith('default_exp') for d in ds): continue
            c.source = '\n'.join(l for l in c.source.splitlines() if not DIRECTIVE.match(l)).strip()
            if 'echo: false' in ds: c.source = ''
            for o in c.get('outputs', []):
                data = o.get('data', {})
                if 'text/markdown' in data:  # prefer the Markdown form of rich outputs
                    o['data'] = {'text/markdown': data['text/markdown']}
                elif 'text/html' in data and 'text/plain' in data: o['data'].pop('text/plain')
            if c.source == '': c.metadata['transient'] = {'remove_source': True}
        cells.append(c)
    nb.cells = cells
    exp = MarkdownExporter(); exp.exclude_input_prompt = exp.exclude_output_prompt = True
    body, _ = exp.from_notebook_node(nb)
    body = re.sub(r'```python\s*\n\s*```\n?', '', body)  # cells whose source was removed
    body = re.sub(r'\]\((?!https?:|#|/)([^)]+)\)', r'](nbs/\1)', body)
    header = "<!-- Made from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"
    return header + re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'

if __name__ == '__main__':
    text, readme = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv[1:]:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is not what nbs/index.ipynb gives: run python tools/make_readme.py and commit it")
        print('README.md is up to date with nbs/index.ipynb')
    else:
        readme.write_text(text); print(f'wrote {readme}')
