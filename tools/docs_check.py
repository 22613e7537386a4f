#!/usr/bin/env python
"""Offline check of the documentation site, in a real browser.

Run from the repository root, with the project's environment: `python tools/docs_check.py [--out _docs_check]`.

1. Runs nbdev's docs processing (what `nbdev_docs` runs before Quarto; it executes the `show_doc` cells that
   make the API entries, and the import cells) on every notebook nbdev finds in `nbs/`, each in its own
   subprocess with a time limit, so that one failing notebook does not hide the others; writes `_proc/`.
2. Renders each processed notebook to HTML with nbconvert into `<out>/site/`: the front matter as the title,
   Quarto's `#|` cell options applied, figures embedded, CDN-only scripts (require.js, MathJax) removed, and
   links to all pages on every page. The page names are nbdev's (`output-file`), so new notebooks need no edit here.
3. Serves the site on 127.0.0.1 and opens every page in headless Chromium with Playwright; requests to any
   other host are aborted (and reported), so a page that needs the network shows it. Saves a screenshot of
   each page to `<out>/<page>.png`.
4. Fails (exit code 1) unless every notebook is processed and rendered; every page loads with HTTP 200, all
   its images and local requests load, and it requests nothing from another host; every public function and
   class (top-level names in `kd_nb/_modidx.py` that are in their module's `__all__`) has a `show_doc` entry
   (a heading with its name, in a markdown output) on some page; the experiment page shows at least 2 images
   and a results table naming 'Teacher' and 'Student'; and no page shows a Python traceback, ANSI colour
   codes or an error output.

Chromium is the system's (`chromium` or `google-chrome` on the PATH, or $CHROMIUM), else the one
`playwright install chromium` downloads.
"""
from __future__ import annotations

import argparse, ast, html, http.server, json, os, re, shutil, signal, subprocess, sys, threading, time
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXPERIMENT_PAGE, MIN_EXPERIMENT_IMAGES = 'experiment.html', 2  # the page with the figures and the results table
PROC_TIMEOUT, PAGE_TIMEOUT, IMG_TIMEOUT = 1800, 60, 15        # seconds: one notebook's processing, a page, its images
WIDTH, MAX_SHOT_HEIGHT = 1280, 12000                          # pixels; taller pages are cut in the screenshot only
BAD_TEXT = [(re.compile(r'Traceback \(most recent call last\)'), "a Python traceback ('Traceback (most recent call last)')"),
            (re.compile(r'^\s*Cell In\s*\[\d*\], line \d+', re.M), "an IPython traceback ('Cell In[..], line ..')"),
            (re.compile(r'\x1b\[[0-9;]*m|\[0;3\dm|\[1;3\dm'), 'ANSI colour codes (an uncleaned error output)')]

def log(*a): print(*a, flush=True)
def _src(x) -> str: return ''.join(x) if isinstance(x, list) else (x or '')
def _stem_page(nb: Path) -> str: return re.sub(r'^\d+[zZ]*_', '', nb.stem) + '.html'   # nbdev's default page name

# --- 1. nbdev's docs processing, one notebook per subprocess ------------------------------------------------

_PROC = ('import sys; from pathlib import Path; from nbdev.serve_drv import main; from nbdev.processors import FilterDefaults; '
         'main((Path(sys.argv[1]), Path(sys.argv[2]), FilterDefaults))')   # what nbdev's proc_nbs runs for each notebook

def process(root: Path, nb: Path, dest: Path):
    "Run nbdev's docs processing of `nb` into `dest`; return (error or None, notes)."
    dest.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.Popen([sys.executable, '-c', _PROC, str(nb), str(dest)], cwd=root, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try: text, err = p.communicate(timeout=PROC_TIMEOUT)[0], None
    except subprocess.TimeoutExpired: text, err = '', f'nbdev docs processing did not finish within {PROC_TIMEOUT} s'
    finally:
        try: os.killpg(p.pid, signal.SIGKILL)   # and whatever it started
        except ProcessLookupError: pass
    if err: p.communicate()
    elif p.returncode: err = 'nbdev docs processing failed:\n      ' + _summary(text)
    elif not dest.exists(): err = f'nbdev docs processing wrote no {dest.relative_to(root)}'
    mixed = list(dict.fromkeys(m.strip() for m in re.findall(
        r'Found cells containing imports and other code\. See FAQ\.\n---\n(.*?)\n---\n', text, flags=re.S)))
    notes = [f"nbdev's docs processing ran {len(mixed)} cell(s) because they mix imports with other code, and the page "
             "shows what they output then; put the imports in cells of their own. The cells start: "
             + '; '.join(repr(m.splitlines()[0][:60]) for m in mixed)] if mixed else []
    return err, notes

def _summary(text: str) -> str:
    "The exception lines of a failed run, and the start of the cell nbdev names."
    res = list(dict.fromkeys(l.strip() for l in text.splitlines()
                             if re.match(r'\s*([A-Za-z_][\w.]*)?(Error|Exception|Interrupt|Exit)\b.*:', l)))
    m = re.search(r' in cell \d+ :\n(.*)', text, flags=re.S)   # nbdev: "Error in notebook: .. in cell <n> :" + source
    if m: res.append('cell source starts: ' + ' | '.join([l.strip() for l in m.group(1).splitlines() if l.strip()][:4]))
    return '\n      '.join(res or text.rstrip().splitlines()[-5:])

# --- 2. rendering with nbconvert -----------------------------------------------------------------------------

_re_option = re.compile(r'^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_md_fixes = [(re.compile(r'(\]\([^)\s]*\))\{[^}\n]*\}'), r'\1'),      # pandoc's [txt](url){target="_blank"}
             (re.compile(r'^\s*:::.*$', re.M), ''),                    # quarto's ::: {.callout} lines
             (re.compile(r'^(#+\s.*?)\s*\{[^}\n]*\}\s*$', re.M), r'\1')] # heading {#anchor .class}
_re_cdn_script = re.compile(r'<script\b[^>]*\bsrc\s*=\s*["\']https?://[^>]*>\s*</script>', re.I)
_re_script = re.compile(r'<script\b[^>]*>.*?</script>', re.I | re.S)
NAV_CSS = '''nav.docs-check-nav { font: 13px/1.6 sans-serif; padding: 6px 12px; border-bottom: 1px solid #ccc; background: #f5f7fa; }
nav.docs-check-nav a { margin-right: 14px; text-decoration: none; } nav.docs-check-nav a.current { font-weight: bold; }
p.description { font-size: 125%; opacity: 70%; } img { max-width: 100%; height: auto; }
.jp-OutputArea-output pre { white-space: pre-wrap; }'''

def front_matter(nbd: dict) -> dict:
    import yaml
    for c in nbd.get('cells', []):
        m = re.match(r'^\s*---\s*\n(.*?)\n---\s*$', _src(c.get('source')), re.S) if c.get('cell_type') == 'raw' else None
        if m:
            try: return yaml.safe_load(m.group(1)) or {}
            except yaml.YAMLError: return {}
    return {}

def for_html(nbd: dict, fm: dict, site_url: str):
    "What Quarto shows of a processed notebook, as an nbformat notebook."
    import nbformat
    def fix(s):
        s = s.replace(site_url, '') if site_url else s
        for pat, rep in _md_fixes: s = pat.sub(rep, s)
        return s
    head = (f"# {fm['title']}\n" if fm.get('title') else '') + (
        f'\n<p class="description"><em>{html.escape(str(fm["description"]))}</em></p>\n' if fm.get('description') else '')
    cells = [{'cell_type': 'markdown', 'metadata': {}, 'source': head}] if head else []
    for c in nbd.get('cells', []):
        s = _src(c.get('source'))
        if c.get('cell_type') == 'markdown' and s.strip() and 'THIS FILE WAS AUTOGENERATED' not in s:
            cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': fix(s)})
        if c.get('cell_type') != 'code': continue
        lines = s.splitlines(); n = 0
        while n < len(lines) and _re_option.match(lines[n]): n += 1
        opts = {k: v.strip('\'"').lower() for k, v in (_re_option.match(l).groups() for l in lines[:n])}
        body, outs = '\n'.join(lines[n:]).strip('\n'), c.get('outputs', [])
        if opts.get('include') == 'false': continue
        if opts.get('output') == 'false': outs = []
        if not body.strip() and not outs: continue
        for o in outs:
            if 'text/markdown' in o.get('data', {}): o['data']['text/markdown'] = fix(_src(o['data']['text/markdown']))
        hide = opts.get('echo') == 'false' or not body.strip()
        cells.append({'cell_type': 'code', 'metadata': {'transient': {'remove_source': True}} if hide else {},
                      'source': body, 'outputs': outs, 'execution_count': None})
    for i, c in enumerate(cells): c['id'] = f'cell-{i}'
    nb = {'cells': cells, 'metadata': nbd.get('metadata', {}), 'nbformat': 4, 'nbformat_minor': 5}
    return nbformat.reads(json.dumps(nb), as_version=4)   # (reads joins multi-line lists; from_dict does not)

def render(pages: dict, site: Path, site_url: str, css: str) -> dict:
    "Write each page of `pages` ({page: (title, source nb, processed nb dict, front matter)}); return {page: problem}."
    from nbconvert import HTMLExporter
    exp = HTMLExporter(template_name='lab', embed_images=True, exclude_input_prompt=True,
                       exclude_output_prompt=True, exclude_anchor_links=True)
    links = ' '.join(f'<a href="{p}" data-page="{p}">{html.escape(t)}</a>' for p, (t, *_) in pages.items())
    problems = {}
    for page, (title, nb, nbd, fm) in pages.items():
        try: body, _ = exp.from_notebook_node(for_html(nbd, fm, site_url),
                                              resources={'metadata': {'path': str(nb.parent), 'name': nb.stem}})
        except Exception as e: problems[page] = f'nbconvert could not render it: {type(e).__name__}: {e}'; continue
        body = _re_script.sub(lambda m: '' if re.search(r'import\s*\(\s*["\']https?://', m.group(0)) else m.group(0),
                              _re_cdn_script.sub('', body))   # CDN-only scripts; math stays as text
        nav = '<nav class="docs-check-nav">' + links.replace(f'data-page="{page}"', 'class="current"') + '</nav>'
        body = re.sub(r'(<body\b[^>]*>)', lambda m: m.group(1) + nav, body, count=1)
        body = body.replace('</head>', f'<style>{css}\n{NAV_CSS}</style>\n</head>', 1)
        body = re.sub(r'<title>.*?</title>', lambda m: f'<title>{html.escape(title)}</title>', body, count=1, flags=re.S)
        (site/page).write_text(body, encoding='utf-8')
    return problems

# --- 3. the browser --------------------------------------------------------------------------------------------

_PAGE_JS = r'''() => {
  const ok = i => i.complete && i.naturalWidth > 0, imgs = Array.from(document.images);
  const heads = Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6')).map(h => {
    const c = h.cloneNode(true); c.querySelectorAll('a.anchor-link').forEach(a => a.remove());
    return {text: c.textContent.replace(/\u00b6/g, '').trim(), showdoc: !!h.closest('[data-mime-type="text/markdown"]')};
  });
  return {ready: document.readyState, images: imgs.length, loaded: imgs.filter(ok).length,
          broken: imgs.filter(i => !ok(i)).map(i => (i.getAttribute('src') || '').slice(0, 80)), heads: heads,
          tables: Array.from(document.querySelectorAll('.jp-OutputArea-output table')).map(t => t.innerText.slice(0, 5000)),
          text: document.body ? document.body.innerText : '',
          height: Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)};
}'''

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def find_chromium():
    return next(filter(None, (shutil.which(b) for b in (os.environ.get('CHROMIUM'), 'chromium', 'chromium-browser',
                                                        'google-chrome', 'google-chrome-stable') if b)), None)

def check_page(ctx, url: str, shot: Path) -> dict:
    "Open `url` in a new page; return what it shows and the problems seen while loading it."
    from playwright.sync_api import Error, TimeoutError as Timeout
    r, page = {'problems': [], 'js_errors': []}, ctx.new_page()
    def route(rt):
        if urlsplit(rt.request.url).hostname in (None, '127.0.0.1'): return rt.continue_()
        r['problems'].append(f'requests {rt.request.url[:100]} from another host (blocked: the site must work offline)')
        rt.abort('blockedbyclient')
    page.route('**/*', route)
    page.on('pageerror', lambda e: r['js_errors'].append(str(e)))
    page.on('crash', lambda _: r['problems'].append('the page crashed'))
    page.on('requestfailed', lambda q: urlsplit(q.url).hostname == '127.0.0.1' and
            r['problems'].append(f'request for {q.url[:100]} failed: {q.failure}'))
    page.on('response', lambda s: s.status >= 400 and s.request.resource_type != 'document' and
            r['problems'].append(f'HTTP {s.status} for {s.url[:100]}'))
    try:
        resp = page.goto(url, wait_until='load', timeout=PAGE_TIMEOUT * 1000)
        if resp is None or resp.status != 200: r['problems'].append(f'HTTP status {resp and resp.status} for {url}')
        try: page.wait_for_function('Array.from(document.images).every(i => i.complete)', timeout=IMG_TIMEOUT * 1000)
        except Timeout: pass   # the images that did not load are reported below
        r.update(page.evaluate(_PAGE_JS))
        page.screenshot(path=shot, full_page=True,
                        clip={'x': 0, 'y': 0, 'width': WIDTH, 'height': min(max(r['height'], 600), MAX_SHOT_HEIGHT)})
    except Error as e: r['problems'].append(f'the browser could not check the page: {e.message.splitlines()[0]}')
    finally: page.close()
    return r

def open_pages(site: Path, pages, out: Path, exe: str | None) -> dict:
    "Serve `site` on 127.0.0.1 and check each page in headless Chromium `exe` (None: Playwright's own); return {page: result}."
    from playwright.sync_api import sync_playwright
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), partial(_Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{srv.server_address[1]}/'
    log(f"== opening the pages in headless Chromium ({exe or 'the one Playwright installed'}) from {base}")
    try:
        with sync_playwright() as pw:
            # the resolver rule backs up the route in check_page: nothing but the local server resolves
            browser = pw.chromium.launch(executable_path=exe, args=['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'])
            ctx = browser.new_context(viewport={'width': WIDTH, 'height': 1000})
            res = {p: check_page(ctx, base + p, out/(Path(p).stem + '.png')) for p in pages if (site/p).exists()}
            browser.close()
            return res
    finally: srv.shutdown(); srv.server_close()

# --- 4. what kd_nb's pages must show ---------------------------------------------------------------------------

def public_api(root: Path, lib: str) -> dict:
    "{`module.name`: page}: the top-level functions and classes in `_modidx.py` that are in their module's `__all__`."
    syms = ast.literal_eval((root/lib/'_modidx.py').read_text(encoding='utf-8').split('=', 1)[1])['syms']
    res = {}
    for mod, names in syms.items():
        py = root/Path(*mod.split('.')).with_suffix('.py')
        alls = [ast.literal_eval(n.value) for n in (ast.parse(py.read_text(encoding='utf-8')).body if py.exists() else [])
                if isinstance(n, ast.Assign) and any(getattr(t, 'id', '') == '__all__' for t in n.targets)]
        for qual, (url, _) in names.items():
            nm = qual[len(mod) + 1:]
            if '.' not in nm and not nm.startswith('_') and (not alls or nm in alls[0]): res[qual] = url.split('#')[0]
    return res

def page_checks(nb: Path, r: dict, root: Path) -> list:
    probs = r['problems'] + ([f"the page is not fully loaded (document.readyState={r['ready']})"]
                             if r.get('ready') not in (None, 'complete') else [])
    if 'text' in r and not r['text'].strip(): probs.append('the page shows no text')
    for src in r.get('broken', [])[:10]:
        f = nb.parent/unquote(src.split('#')[0].split('?')[0])
        why = '' if not src or re.match(r'^(data:|[a-z]+://)', src) else (
            f' ({f.relative_to(root)} does not exist)' if not f.exists() else ' (nbconvert could not embed it)')
        probs.append(f'image {src!r} did not load{why}')
    for pat, what in BAD_TEXT:
        if m := pat.search(r.get('text', '')):
            probs.append(f"the page shows {what}: ...{r['text'][max(0, m.start()-150): m.end()+150]}...".replace('\n', ' | '))
    return probs

def experiment_checks(r: dict) -> list:
    probs = []
    if r.get('loaded', 0) < MIN_EXPERIMENT_IMAGES:
        probs.append(f"the experiment page shows {r.get('loaded', 0)} loaded image(s) of {r.get('images', 0)}; it needs at "
                     f'least {MIN_EXPERIMENT_IMAGES} (figures come from the outputs saved in its notebook)')
    if not any('Teacher' in t and 'Student' in t for t in r.get('tables', [])):
        probs.append("the experiment page has no results table (an HTML <table> in a cell output naming 'Teacher' and "
                     f"'Student'; it has {len(r.get('tables', []))} table(s) in outputs): save its notebook with the outputs")
    return probs

def error_outputs(nbd: dict) -> list:
    return [f"error output ({o.get('ename')}: {str(o.get('evalue'))[:120]}) in the cell starting "
            f"{(_src(c.get('source')).strip().splitlines() or ['?'])[0][:60]!r}"
            for c in nbd.get('cells', []) for o in c.get('outputs', []) or [] if o.get('output_type') == 'error']

# -----------------------------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='_docs_check', help='folder for the site and the screenshots (default: _docs_check)')
    ap.add_argument('--reuse-proc', action='store_true', help="use the notebooks already in _proc/ (quicker, for debugging)")
    args = ap.parse_args(argv)
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    cfg = get_config()
    root, nbs_path, out = Path(cfg.config_path), Path(cfg.nbs_path), Path(args.out).resolve()
    site = out/'site'
    shutil.rmtree(out, ignore_errors=True); site.mkdir(parents=True)
    nbs = sorted(nbglob(nbs_path, func=Path), key=lambda p: (p.name != 'index.ipynb', str(p)))
    problems = {nb: [] for nb in nbs}
    notes = {nb: [] for nb in nbs}

    log(f"== nbdev's docs processing of {len(nbs)} notebooks into _proc/")
    if not args.reuse_proc: shutil.rmtree(root/'_proc', ignore_errors=True)   # nothing stale survives
    pages = {}   # page: (title, notebook, processed notebook, front matter)
    for nb in nbs:
        t0, dest = time.time(), root/'_proc'/nb.relative_to(nbs_path)
        err, notes[nb] = (None, []) if args.reuse_proc else process(root, nb, dest)
        if not err and not dest.exists(): err = f'no processed notebook {dest.relative_to(root)}'
        if not args.reuse_proc: log(f'  processed {nb.relative_to(nbs_path)} in {time.time()-t0:.0f} s' + (' (FAILED)' if err else ''))
        if err: problems[nb].append(err); continue
        nbd = json.loads(dest.read_text(encoding='utf-8'))
        fm = front_matter(nbd)
        page = 'index.html' if nb.name == 'index.ipynb' else str(fm.get('output-file') or _stem_page(nb))
        if page in pages: problems[nb].append(f'its page, {page}, is also made by {pages[page][1].name}'); continue
        pages[page] = (str(fm.get('title') or nb.stem), nb, nbd, fm)
        problems[nb] += error_outputs(nbd)
    nb_of = {p: v[1] for p, v in pages.items()}

    log(f'== rendering {len(pages)} pages with nbconvert into {site}')
    css = (nbs_path/'styles.css').read_text() if (nbs_path/'styles.css').exists() else ''
    for page, prob in render(pages, site, (cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')).rstrip('/') + '/', css).items():
        problems[nb_of[page]].append(prob)

    results, other = {}, []
    try: results = open_pages(site, pages, out, find_chromium())
    except Exception as e:
        why = (str(e).strip().splitlines() or ['?'])[0][:300]
        other.append(f'the browser could not run ({type(e).__name__}: {why}); install Chromium '
                     "(apt-get install chromium, or set CHROMIUM=/path/to/chromium) or Playwright's (playwright install chromium)")
    for page, r in results.items(): problems[nb_of[page]] += page_checks(nb_of[page], r, root)

    page_nb = {_stem_page(nb): nb for nb in nbs} | nb_of   # also the pages not made
    shown = {h['text'] for r in results.values() for h in r.get('heads', []) if h['showdoc']}
    for qual, page in public_api(root, cfg.lib_name).items():
        if qual.rsplit('.', 1)[1] in shown: continue
        msg = f'no API entry (show_doc heading) for {qual}'
        if page in page_nb: problems[page_nb[page]].append(msg + ('' if page in results else f' (its page, {page}, could not be checked)'))
        else: other.append(msg + f' (expected on {page}, which no notebook produces)')
    if EXPERIMENT_PAGE not in nb_of: other.append(f'no notebook produces the experiment page, {EXPERIMENT_PAGE}')
    elif EXPERIMENT_PAGE in results: problems[nb_of[EXPERIMENT_PAGE]] += experiment_checks(results[EXPERIMENT_PAGE])

    log('== results')
    page_of = {nb: p for p, nb in nb_of.items()}
    w = max([len(str(nb.relative_to(nbs_path))) for nb in nbs] + [8])
    for nb, probs in problems.items():
        r = results.get(page_of.get(nb), {})
        imgs = f"{r['loaded']}/{r['images']} images" if 'images' in r else '-/- images'
        log(f"{str(nb.relative_to(nbs_path)):<{w}}  {page_of.get(nb, '-'):<18} {imgs:<12} {'FAILED' if probs else 'OK'}")
        for p in probs: log(f'    - {p}')
        for n in notes[nb]: log(f'    (note: {n})')
        if r.get('js_errors'): log(f"    (note: JavaScript errors: {'; '.join(e[:100] for e in r['js_errors'][:3])})")
    for p in other: log(f'  - {p}')
    failed = sum(map(bool, problems.values()))
    log(f'screenshots: {out}/*.png; site: {site}/index.html')
    log(f'docs check: {len(nbs) - failed} pages passed, {failed} failed' + (f', {len(other)} other problem(s)' if other else ''))
    return 1 if failed or other or not nbs else 0

if __name__ == '__main__':
    sys.exit(main())
