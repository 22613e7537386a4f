#!/usr/bin/env python
"""Offline check of the documentation site, in a real browser.

Run from the repository root, with the project's environment active:

    python tools/docs_check.py [--out _docs_check]

What it does:

1. Runs nbdev's own docs preprocessing (`nbdev.serve.proc_nbs`, the step `nbdev_docs` runs before
   Quarto, which among other things executes the `show_doc` cells that make the API entries) on
   every notebook, writing the processed notebooks to `_proc/` as nbdev does.  Each notebook is
   processed in its own subprocess, from the repository root like `nbdev_docs`, with a time limit,
   so that one failing notebook does not hide the others.
2. Renders each processed notebook to HTML with nbconvert (figures embedded as data URIs, CDN-only
   scripts such as require.js, MathJax and mermaid removed, so nothing that matters needs the
   network) into `<out>/site/`.  `index.ipynb` becomes `index.html`, as on the real site, and every
   page starts with links to all pages.
3. Serves `<out>/site/` on 127.0.0.1 and opens every page in headless Chromium, driven over the
   DevTools protocol with a small stdlib-only websocket client; every host but 127.0.0.1 is made
   unresolvable, so a page that needs a CDN shows it.  Saves a screenshot of each page to
   `<out>/<page>.png`.
4. Fails (exit code 1) unless every page loads and all its images load; every public function and
   class (the top-level names in `kd_nb/_modidx.py` that are in their module's `__all__`) has a
   `show_doc` entry (a heading with the name, in a markdown output) on some page; the experiment
   page shows at least 2 loaded images and a results table mentioning 'Teacher' and 'Student'; and
   no page shows a Python traceback or has an error output.

Only the standard library, nbdev, nbformat, nbconvert and Chromium are used.
"""
from __future__ import annotations

import argparse, ast, base64, collections, hashlib, html, http.server, json, os, re, shutil, signal
import socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request
from functools import partial
from pathlib import Path

EXPERIMENT_NB = '05_experiment.ipynb'  # the page that must show figures and the results table
MIN_EXPERIMENT_IMAGES = 2
PROC_TIMEOUT = 1800     # seconds for nbdev's processing of one notebook (it runs cells with imports)
PAGE_TIMEOUT = 60       # seconds for one page to load in the browser
IMG_TIMEOUT = 15        # seconds to wait for a page's images to finish loading
BROWSER_START_TIMEOUT = 60
MAX_SHOT_HEIGHT = 12000 # pixels; taller pages are cut in the screenshot (not in the checks)
WIDTH = 1280

TRACEBACK_PATTERNS = [
    (re.compile(r'Traceback \(most recent call last\)'), "a Python traceback ('Traceback (most recent call last)')"),
    (re.compile(r'^\s*Cell In\s*\[\d*\], line \d+', re.M), "an IPython traceback ('Cell In[..], line ..')"),
    (re.compile(r'\x1b\[[0-9;]*m|\[0;3\dm|\[1;3\dm'), 'ANSI colour codes (an uncleaned error output)'),
]

def log(*a): print(*a, flush=True)

# ---------------------------------------------------------------------------------------------
# 1. nbdev's docs processing
# ---------------------------------------------------------------------------------------------

_PROC_SCRIPT = r'''
import sys
from nbdev.serve import proc_nbs
# Only this notebook: nbdev skips files matching skip_file_re ('^[_.]' by default).
proc_nbs(path=sys.argv[1], n_workers=0, force=False, skip_file_re=sys.argv[2])
'''

def _kill_group(p: subprocess.Popen):
    "Stop process `p`, which was started in its own session, and the processes it started."
    if p.poll() is not None: return
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try: os.killpg(p.pid, sig)
        except ProcessLookupError: return
        try: p.wait(wait); return
        except subprocess.TimeoutExpired: pass

def _summarise_proc_error(err: str) -> str:
    "The useful lines of a failed `proc_nbs` run: the exception(s), and the cell nbdev names."
    lines = err.rstrip().splitlines()
    excs = [l.strip() for l in lines if re.match(r'^(?:[A-Za-z_][\w.]*)?(Error|Exception|Interrupt|Exit)\b.*:', l.strip())]
    res = []
    for e in excs:
        if e not in res: res.append(e)
    # nbdev's message is "Exception: Error in notebook: <title> in cell <n> :" followed by the cell's source
    m = re.search(r'Error(?: in notebook: .*?)? in cell \d+ :\n(.*)', err, flags=re.S)
    if m:
        src = [l for l in m.group(1).splitlines() if l.strip()][:4]
        if src: res.append('cell source starts: ' + ' | '.join(s.strip() for s in src))
    if not res: res = lines[-5:]
    return '\n      '.join(res)

def process_notebooks(root: Path, nbs_path: Path, nbs: list[Path], timeout: float):
    "Run nbdev's `proc_nbs` for each notebook; return {notebook: error} for those that failed, and {notebook: notes}."
    cache = root/'_proc'
    shutil.rmtree(cache, ignore_errors=True)   # like `proc_nbs(force=True)`: nothing stale survives
    errors, notes = {}, {}
    for nb in nbs:
        skip = rf'^[_.]|^(?!{re.escape(nb.name)}$).*\.ipynb$'
        t0 = time.time()
        with tempfile.TemporaryFile('w+') as out:
            p = subprocess.Popen([sys.executable, '-c', _PROC_SCRIPT, str(nbs_path), skip], cwd=root,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True, text=True)
            try: rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(p)
                rc = None
            out.seek(0); text = out.read()
        mixed = list(dict.fromkeys(m.strip() for m in re.findall(
            r'Found cells containing imports and other code\. See FAQ\.\n---\n(.*?)\n---\n', text, flags=re.S)))
        if mixed: notes[nb] = [f"nbdev's docs processing ran {len(mixed)} cell(s) because they mix imports with other code "
                               "(its warning 'Found cells containing imports and other code'), and the page shows what they "
                               "output then; put the imports in cells of their own. The cells start: "
                               + '; '.join(repr(m.splitlines()[0][:60]) for m in mixed)]
        dest = cache/nb.relative_to(nbs_path)
        if rc is None: errors[nb] = f'nbdev docs processing did not finish within {timeout:.0f} s'
        elif rc != 0: errors[nb] = 'nbdev docs processing failed:\n      ' + _summarise_proc_error(text)
        elif not dest.exists(): errors[nb] = f'nbdev docs processing wrote no {dest.relative_to(root)}'
        log(f'  processed {nb.relative_to(nbs_path)} in {time.time()-t0:.0f} s' + ('' if nb not in errors else ' (FAILED)'))
    return errors, notes

# ---------------------------------------------------------------------------------------------
# 2. rendering with nbconvert
# ---------------------------------------------------------------------------------------------

_re_option = re.compile(r'^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_re_link_attrs = re.compile(r'(\]\([^)\s]*\))\{[^}\n]*\}')    # pandoc's [txt](url){target="_blank"}
_re_fence_div = re.compile(r'^\s*:::.*$', re.M)                 # quarto's ::: {.callout} lines
_re_heading_attrs = re.compile(r'^(#+\s.*?)\s*\{[^}\n]*\}\s*$', re.M)

def _src(x) -> str: return ''.join(x) if isinstance(x, list) else (x or '')

def _fix_md(s: str, site_url: str) -> str:
    if site_url: s = s.replace(site_url, '')
    s = _re_link_attrs.sub(r'\1', s)
    s = _re_fence_div.sub('', s)
    return _re_heading_attrs.sub(r'\1', s)

def _cell_options(src: str):
    "Quarto's `#| key: value` options at the top of a code cell, and the source without them."
    opts, lines = {}, src.splitlines()
    i = 0
    while i < len(lines):
        m = _re_option.match(lines[i])
        if not m: break
        opts[m.group(1)] = m.group(2).strip('\'"').lower()
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')

def page_name(proc_nb: dict, nb: Path) -> str:
    "The HTML file Quarto writes for this notebook: nbdev puts it in the front matter as `output-file`."
    for c in proc_nb.get('cells', []):
        if c.get('cell_type') == 'raw':
            m = re.search(r'^output-file:\s*(\S+)\s*$', _src(c.get('source')), re.M)
            if m: return m.group(1).strip('\'"')
    return re.sub(r'^\d+[zZ]*_', '', nb.stem) + '.html'

def prepare_for_html(nbd: dict, site_url: str) -> dict:
    "What Quarto would show of a processed notebook: front matter as a title, cell options applied."
    import yaml
    cells = []
    for c in nbd.get('cells', []):
        c.setdefault('metadata', {})
        src = _src(c.get('source'))
        ct = c.get('cell_type')
        if ct == 'raw':
            m = re.match(r'^\s*---\s*\n(.*?)\n---\s*$', src, re.S)
            if not m: continue
            try: fm = yaml.safe_load(m.group(1)) or {}
            except Exception: fm = {}
            md = f"# {fm.get('title', '')}\n" if fm.get('title') else ''
            if fm.get('description'): md += f'\n<p class="description"><em>{html.escape(str(fm["description"]))}</em></p>\n'
            if md: cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': md})
            continue
        if ct == 'markdown':
            if src.strip() and not src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'):
                c['source'] = _fix_md(src, site_url)
                c.pop('outputs', None); c.pop('execution_count', None)
                cells.append(c)
            continue
        if ct != 'code': continue
        opts, body = _cell_options(src)
        if opts.get('include') == 'false': continue
        outs = [] if opts.get('output') == 'false' else c.get('outputs', [])
        for o in outs:
            d = o.get('data', {})
            if 'text/markdown' in d: d['text/markdown'] = _fix_md(_src(d['text/markdown']), site_url)
        c['source'], c['outputs'] = body, outs
        c.setdefault('execution_count', None)
        if opts.get('echo') == 'false' or not body.strip():
            c['metadata'].setdefault('transient', {})['remove_source'] = True
        if not body.strip() and not outs: continue
        cells.append(c)
    for i, c in enumerate(cells): c['id'] = f'cell-{i}'
    nbd['cells'] = cells
    nbd.setdefault('metadata', {})
    nbd.setdefault('nbformat', 4); nbd.setdefault('nbformat_minor', 5)
    return nbd

_re_ext_script = re.compile(r'<script\b[^>]*\bsrc\s*=\s*["\']https?://[^>]*>\s*</script>', re.I)
_re_script = re.compile(r'<script\b[^>]*>.*?</script>', re.I | re.S)
_re_ext_asset = re.compile(r'<(img|script|link|iframe|source|video|audio|embed)\b[^>]*\b(?:src|href)\s*=\s*["\'](https?://[^"\']+)', re.I)

def _offline(body: str) -> str:
    "Remove scripts that only come from a CDN (require.js, MathJax, mermaid); math stays as plain text."
    body = _re_ext_script.sub('', body)
    return _re_script.sub(lambda m: '' if re.search(r'import\s*\(\s*["\']https?://', m.group(0)) else m.group(0), body)

NAV_CSS = '''
nav.docs-check-nav { font: 13px/1.6 sans-serif; padding: 6px 12px; border-bottom: 1px solid #ccc; background: #f5f7fa; }
nav.docs-check-nav a { margin-right: 14px; text-decoration: none; }
nav.docs-check-nav a.current { font-weight: bold; }
p.description { font-size: 125%; opacity: 70%; }
img { max-width: 100%; height: auto; }
.jp-OutputArea-output pre { white-space: pre-wrap; }
'''

def render_pages(items, site: Path, site_url: str, css: str):
    "Render processed notebooks to `site`; items: [(page, title, processed-notebook path)]. Returns {page: problems}."
    import nbformat
    from nbconvert import HTMLExporter
    exp = HTMLExporter(template_name='lab', embed_images=True, exclude_input_prompt=True,
                       exclude_output_prompt=True, exclude_anchor_links=True)
    links = ' '.join(f'<a href="{p}" data-page="{p}">{html.escape(t)}</a>' for p, t, _ in items)
    problems = {}
    for page, title, proc in items:
        probs = problems.setdefault(page, [])
        try:
            nbd = prepare_for_html(json.loads(proc.read_text(encoding='utf-8')), site_url)
            nb = nbformat.reads(json.dumps(nbd), as_version=4)   # (reads joins multi-line lists, from_dict does not)
            body, res = exp.from_notebook_node(nb, resources={'metadata': {'path': str(proc.parent), 'name': proc.stem}})
        except Exception as e:
            probs.append(f'nbconvert could not render {proc.name}: {type(e).__name__}: {e}')
            continue
        body = _offline(body)
        here = links.replace(f'data-page="{page}"', 'class="current"')
        nav = f'<nav class="docs-check-nav">{here}</nav>'
        body = re.sub(r'(<body\b[^>]*>)', lambda m: m.group(1) + nav, body, count=1)
        body = body.replace('</head>', f'<style>{css}\n{NAV_CSS}</style>\n</head>', 1)
        body = re.sub(r'<title>.*?</title>', f'<title>{html.escape(title)}</title>', body, count=1, flags=re.S)
        for tag, url in _re_ext_asset.findall(body):
            probs.append(f'depends on an external asset: <{tag}> {url[:100]}')
        for name, data in (res.get('outputs') or {}).items():   # figures nbconvert did not inline
            (site/name).parent.mkdir(parents=True, exist_ok=True); (site/name).write_bytes(data)
        (site/page).write_text(body, encoding='utf-8')
    if not (site/'index.html').exists():   # no index notebook: a plain page of links
        (site/'index.html').write_text('<!doctype html><html><head><meta charset="utf-8"><title>pages</title></head><body>'
                                       f'<nav class="docs-check-nav">{links}</nav><h1>Pages</h1><ul>'
                                       + ''.join(f'<li><a href="{p}">{html.escape(t)}</a></li>' for p, t, _ in items)
                                       + '</ul></body></html>', encoding='utf-8')
    return problems

# ---------------------------------------------------------------------------------------------
# 3. a tiny DevTools-protocol client (stdlib only: websocket handshake and framing over a socket)
# ---------------------------------------------------------------------------------------------

_WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
_KEEP_EVENTS = {'Page.loadEventFired', 'Network.responseReceived', 'Network.loadingFailed',
                'Runtime.exceptionThrown', 'Inspector.targetCrashed', 'Target.detachedFromTarget'}

class CDPError(Exception): pass

class CDP:
    "Minimal client for Chromium's DevTools protocol over one websocket (flattened target sessions)."
    def __init__(self, ws_url: str, timeout: float = 30):
        u = urllib.parse.urlsplit(ws_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f'GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n'
                           f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())
        self.buf = bytearray()
        deadline = time.monotonic() + timeout
        while b'\r\n\r\n' not in self.buf: self.buf += self._recv_some(deadline)
        head, rest = bytes(self.buf).split(b'\r\n\r\n', 1)
        self.buf = bytearray(rest)
        lines = head.decode('latin-1').split('\r\n')
        if ' 101 ' not in lines[0] + ' ': raise CDPError(f'websocket handshake refused: {lines[0]}')
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(':') for l in lines[1:])}
        want = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        if hdrs.get('sec-websocket-accept') != want: raise CDPError('websocket handshake: bad Sec-WebSocket-Accept')
        self.next_id, self.events = 0, collections.deque(maxlen=10000)

    def _recv_some(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0: raise TimeoutError('timed out waiting for the browser')
        self.sock.settimeout(left)
        try: data = self.sock.recv(1 << 20)
        except socket.timeout: raise TimeoutError('timed out waiting for the browser') from None
        if not data: raise ConnectionError('the browser closed the DevTools connection')
        return data

    def _recv_exact(self, n, deadline):
        while len(self.buf) < n: self.buf += self._recv_some(deadline)
        res = bytes(self.buf[:n]); del self.buf[:n]
        return res

    def _send_frame(self, payload: bytes, opcode: int = 1):
        n = len(payload)
        hdr = bytes([0x80 | opcode])
        if n < 126: hdr += bytes([0x80 | n])
        elif n < 1 << 16: hdr += bytes([0x80 | 126]) + n.to_bytes(2, 'big')
        else: hdr += bytes([0x80 | 127]) + n.to_bytes(8, 'big')
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, mask)
        self.sock.settimeout(30)
        self.sock.sendall(hdr + mask + masked)

    def _recv_message(self, deadline) -> str:
        parts = []
        while True:
            b0, b1 = self._recv_exact(2, deadline)
            fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126: n = int.from_bytes(self._recv_exact(2, deadline), 'big')
            elif n == 127: n = int.from_bytes(self._recv_exact(8, deadline), 'big')
            mask = self._recv_exact(4, deadline) if b1 & 0x80 else None
            data = self._recv_exact(n, deadline)
            if mask: data = _mask_fast(data, mask)
            if opcode == 8: raise ConnectionError('the browser closed the DevTools connection')
            if opcode == 9: self._send_frame(data, 10); continue   # ping -> pong
            if opcode == 10: continue
            parts.append(data)
            if fin: return b''.join(parts).decode('utf-8', 'replace')

    def _pump(self, deadline):
        "Read one message; keep the events we care about; return it."
        msg = json.loads(self._recv_message(deadline))
        if 'method' in msg and msg['method'] in _KEEP_EVENTS: self.events.append(msg)
        return msg

    def call(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        mid = self.next_id
        msg = {'id': mid, 'method': method, 'params': params or {}}
        if session: msg['sessionId'] = session
        self._send_frame(json.dumps(msg).encode())
        deadline = time.monotonic() + timeout
        while True:
            r = self._pump(deadline)
            if r.get('id') == mid:
                if 'error' in r: raise CDPError(f"{method}: {r['error'].get('message')}")
                return r.get('result', {})

    def take_events(self, method, session=None):
        "Remove and return the queued events `method` of `session`."
        res = [e for e in self.events if e['method'] == method and (session is None or e.get('sessionId') == session)]
        for e in res: self.events.remove(e)
        return res

    def wait_event(self, method, session=None, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            got = self.take_events(method, session)
            if got: return got[0]
            crashed = self.take_events('Inspector.targetCrashed', session)
            if crashed: raise CDPError('the page crashed')
            self._pump(deadline)

    def close(self):
        try: self._send_frame(b'\x03\xe8', 8)
        except OSError: pass
        try: self.sock.close()
        except OSError: pass

def _mask_fast(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], 'big')
    return (int.from_bytes(data, 'big') ^ m).to_bytes(n, 'big') if n else b''

def find_browser():
    for b in (os.environ.get('CHROMIUM'), 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'):
        if b and shutil.which(b): return shutil.which(b)
    return None

class Browser:
    "Headless Chromium with a fresh profile, reachable over the DevTools protocol."
    def __init__(self, exe):
        self.profile = tempfile.mkdtemp(prefix='docs_check_chromium_')
        self.logf = open(Path(self.profile).parent/(Path(self.profile).name + '.log'), 'w+')
        args = [exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-extensions', '--disable-default-apps', '--mute-audio', '--hide-scrollbars',
                f'--user-data-dir={self.profile}', '--remote-debugging-port=0', f'--window-size={WIDTH},1000',
                # nothing but the local server resolves: a page that needs a CDN shows it here
                '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
                'about:blank']
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.cdp = None
        try:
            port_file, deadline = Path(self.profile)/'DevToolsActivePort', time.monotonic() + BROWSER_START_TIMEOUT
            while True:
                if self.proc.poll() is not None: raise RuntimeError(f'Chromium exited with code {self.proc.returncode}:\n{self._log_tail()}')
                if time.monotonic() > deadline: raise RuntimeError(f'Chromium did not open its DevTools port within {BROWSER_START_TIMEOUT} s:\n{self._log_tail()}')
                lines = port_file.read_text().split('\n') if port_file.exists() else []
                if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip(): break
                time.sleep(0.2)
            port, path = int(lines[0]), lines[1].strip()
            self.cdp = CDP(f'ws://127.0.0.1:{port}{path}', timeout=BROWSER_START_TIMEOUT)
        except BaseException:
            self.close(); raise

    def _log_tail(self):
        try: self.logf.seek(0); return ''.join(self.logf.readlines()[-15:])
        except Exception: return ''

    def check_page(self, url, shot: Path) -> dict:
        "Open `url` in a new tab; return what the page shows."
        cdp, res = self.cdp, {'errors': [], 'js_errors': [], 'failed_requests': []}
        tid = cdp.call('Target.createTarget', {'url': 'about:blank'})['targetId']
        try:
            sid = cdp.call('Target.attachToTarget', {'targetId': tid, 'flatten': True})['sessionId']
            for m in ('Page.enable', 'Runtime.enable', 'Network.enable'): cdp.call(m, session=sid)
            cdp.call('Emulation.setDeviceMetricsOverride', {'width': WIDTH, 'height': 1000, 'deviceScaleFactor': 1,
                                                            'mobile': False}, session=sid)
            nav = cdp.call('Page.navigate', {'url': url}, session=sid, timeout=PAGE_TIMEOUT)
            if nav.get('errorText'):
                res['errors'].append(f"the page did not load: {nav['errorText']}"); return res
            try: cdp.wait_event('Page.loadEventFired', sid, timeout=PAGE_TIMEOUT)
            except TimeoutError: res['errors'].append(f'the page did not finish loading within {PAGE_TIMEOUT} s')
            docs = [e['params']['response'] for e in cdp.take_events('Network.responseReceived', sid)
                    if e['params'].get('type') == 'Document']
            if docs and docs[0].get('status') != 200: res['errors'].append(f"HTTP status {docs[0].get('status')} for {url}")
            deadline = time.monotonic() + IMG_TIMEOUT
            while time.monotonic() < deadline:     # let images finish loading (or failing)
                if self._eval(sid, 'Array.from(document.images).every(i => i.complete)'): break
                time.sleep(0.25)
            res.update(json.loads(self._eval(sid, _PAGE_JS)))
            res['js_errors'] = [e['params']['exceptionDetails'].get('exception', {}).get('description')
                                or e['params']['exceptionDetails'].get('text') for e in cdp.take_events('Runtime.exceptionThrown', sid)]
            res['failed_requests'] = [f"{e['params'].get('errorText')}" for e in cdp.take_events('Network.loadingFailed', sid)]
            try: self._screenshot(sid, shot, res.get('height') or 1000)
            except (CDPError, TimeoutError) as e: res['errors'].append(f'no screenshot: {e}')
            return res
        finally:
            try: cdp.call('Target.closeTarget', {'targetId': tid}, timeout=10)
            except Exception: pass
            cdp.events.clear()

    def _eval(self, sid, expr):
        r = self.cdp.call('Runtime.evaluate', {'expression': expr, 'returnByValue': True}, session=sid, timeout=PAGE_TIMEOUT)
        if 'exceptionDetails' in r: raise CDPError(f"JavaScript error: {r['exceptionDetails'].get('text')}")
        return r.get('result', {}).get('value')

    def _screenshot(self, sid, path: Path, height):
        h = int(min(max(height, 600), MAX_SHOT_HEIGHT))
        self.cdp.call('Emulation.setDeviceMetricsOverride', {'width': WIDTH, 'height': h, 'deviceScaleFactor': 1,
                                                             'mobile': False}, session=sid)
        r = self.cdp.call('Page.captureScreenshot', {'format': 'png', 'captureBeyondViewport': True,
                                                     'clip': {'x': 0, 'y': 0, 'width': WIDTH, 'height': h, 'scale': 1}},
                          session=sid, timeout=PAGE_TIMEOUT)
        path.write_bytes(base64.b64decode(r['data']))

    def close(self):
        if self.cdp:
            try: self.cdp.call('Browser.close', timeout=5)
            except Exception: pass
            self.cdp.close()
        try: self.proc.wait(5)
        except subprocess.TimeoutExpired: _kill_group(self.proc)
        self.logf.close()
        try: os.unlink(self.logf.name)
        except OSError: pass
        shutil.rmtree(self.profile, ignore_errors=True)

_PAGE_JS = r'''JSON.stringify((() => {
  const ok = i => i.complete && i.naturalWidth > 0;
  const imgs = Array.from(document.images);
  const heads = Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6')).map(h => {
    const c = h.cloneNode(true); c.querySelectorAll('a.anchor-link').forEach(a => a.remove());
    return {text: c.textContent.replace(/\u00b6/g, '').trim(), id: h.id, level: +h.tagName[1],
            showdoc: !!h.closest('[data-mime-type="text/markdown"]')};
  });
  return {ready: document.readyState, title: document.title, images: imgs.length, loaded: imgs.filter(ok).length,
          broken: imgs.filter(i => !ok(i)).map(i => (i.getAttribute('src') || '').slice(0, 80)),
          heads: heads,
          tables: Array.from(document.querySelectorAll('.jp-OutputArea-output table')).map(t => t.innerText.slice(0, 5000)),
          text: document.body ? document.body.innerText : '',
          height: Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)};
})())'''

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def serve(site: Path):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

# ---------------------------------------------------------------------------------------------
# 4. what has to be there
# ---------------------------------------------------------------------------------------------

def public_api(root: Path, lib_name: str):
    "{module: [(name, expected page)]}: top-level functions and classes in `_modidx.py` that are in `__all__`."
    modidx = root/lib_name/'_modidx.py'
    tree = ast.parse(modidx.read_text(encoding='utf-8'))
    d = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == 'd')
    res = {}
    for mod, syms in d['syms'].items():
        src = root/Path(*mod.split('.')).with_suffix('.py')
        allnames = None
        if src.exists():
            for n in ast.parse(src.read_text(encoding='utf-8')).body:
                if isinstance(n, (ast.Assign, ast.AugAssign)) and any(getattr(t, 'id', None) == '__all__' for t in
                                                                       (n.targets if isinstance(n, ast.Assign) else [n.target])):
                    try: allnames = (allnames or []) + list(ast.literal_eval(n.value))
                    except ValueError: pass
        for qual, (url, _) in syms.items():
            nm = qual[len(mod) + 1:]
            if '.' in nm or nm.startswith('_'): continue     # methods and private helpers
            if allnames is not None and nm not in allnames: continue
            res.setdefault(mod, []).append((nm, url.split('#')[0]))
    return res

def error_outputs(proc_nb: dict):
    res = []
    for i, c in enumerate(proc_nb.get('cells', [])):
        for o in c.get('outputs', []) or []:
            if o.get('output_type') == 'error':
                src = _src(c.get('source')).strip().splitlines()
                res.append(f"error output ({o.get('ename')}: {str(o.get('evalue'))[:120]}) in the cell starting "
                           f"{src[0][:60] if src else '?'!r}")
    return res

# ---------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default='_docs_check', help='folder for the site and the screenshots (default: _docs_check)')
    ap.add_argument('--reuse-proc', action='store_true',
                    help="don't run nbdev's processing again: use the notebooks already in _proc/ (quicker, for debugging)")
    args = ap.parse_args(argv)

    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    cfg = get_config()
    root, nbs_path = Path(cfg.config_path), Path(cfg.nbs_path)
    out = Path(args.out).resolve()
    site = out/'site'
    shutil.rmtree(out, ignore_errors=True); site.mkdir(parents=True)
    site_url = (cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')).rstrip('/') + '/'
    css = (nbs_path/'styles.css').read_text() if (nbs_path/'styles.css').exists() else ''

    nbs = sorted(nbglob(nbs_path, func=Path), key=lambda p: (p.name != 'index.ipynb', str(p)))
    if not nbs: log(f'docs check: no notebooks in {nbs_path}'); return 1
    problems = collections.OrderedDict((nb, []) for nb in nbs)

    log(f"== nbdev's docs processing (nbdev.serve.proc_nbs) of {len(nbs)} notebooks into _proc/")
    if args.reuse_proc: proc_errors, proc_notes = {}, {}
    else: proc_errors, proc_notes = process_notebooks(root, nbs_path, nbs, PROC_TIMEOUT)
    pages, items, proc_nbs_json = {}, [], {}
    for nb in nbs:
        if nb in proc_errors: problems[nb].append(proc_errors[nb]); continue
        proc = root/'_proc'/nb.relative_to(nbs_path)
        if not proc.exists(): problems[nb].append(f'no processed notebook {proc.relative_to(root)}'); continue
        d = json.loads(proc.read_text(encoding='utf-8'))
        proc_nbs_json[nb] = d
        page = page_name(d, nb)
        if nb.name == 'index.ipynb': page = 'index.html'
        m = re.search(r'^title:\s*(.+?)\s*$', next((_src(c.get('source')) for c in d.get('cells', [])
                                                    if c.get('cell_type') == 'raw'), ''), re.M)
        pages[nb] = page
        items.append((page, m.group(1).strip('\'"') if m else nb.stem, proc))
        problems[nb] += error_outputs(d)

    log(f'== rendering {len(items)} pages with nbconvert into {site}')
    for page, probs in render_pages(items, site, site_url, css).items():
        nb = next(n for n, p in pages.items() if p == page)
        problems[nb] += probs

    exe = find_browser()
    results = {}
    if not exe:
        for nb in pages: problems[nb].append('no Chromium found (set CHROMIUM=/path/to/chromium)')
    else:
        srv = serve(site)
        base = f'http://127.0.0.1:{srv.server_address[1]}/'
        log(f'== opening the pages in headless Chromium ({exe}) from {base}')
        browser = None
        try:
            browser = Browser(exe)
            for nb, page in pages.items():
                if not (site/page).exists(): continue
                try: results[nb] = browser.check_page(base + page, out/(Path(page).stem + '.png'))
                except (CDPError, TimeoutError, ConnectionError, OSError) as e:
                    problems[nb].append(f'the browser could not check the page: {type(e).__name__}: {e}')
                    if isinstance(e, ConnectionError): break
        except RuntimeError as e:
            for nb in pages: problems[nb].append(f'could not start Chromium: {e}')
        finally:
            if browser: browser.close()
            srv.shutdown(); srv.server_close()

    # --- the checks
    for nb, r in results.items():
        probs = problems[nb]
        probs += r['errors']
        if r.get('ready') not in (None, 'complete'): probs.append(f"the page is not fully loaded (document.readyState={r['ready']})")
        if 'text' in r and not r['text'].strip(): probs.append('the page shows no text')
        for src in r.get('broken', [])[:10]:
            why = ''
            if src and not re.match(r'^(data:|[a-z]+://)', src):
                f = (nb.parent/urllib.parse.unquote(src.split('#')[0].split('?')[0]))
                why = f' ({f.relative_to(root)} does not exist)' if not f.exists() else ' (nbconvert could not embed it)'
            probs.append(f'image {src!r} did not load{why}')
        for pat, what in TRACEBACK_PATTERNS:
            m = pat.search(r.get('text', ''))
            if m:
                ctx = r['text'][max(0, m.start()-150): m.end()+150].replace('\n', ' | ')
                probs.append(f'the page shows {what}: ...{ctx}...')

    # API entries: a show_doc heading with the name, on some page
    shown = {}
    for nb, r in results.items():
        for h in r.get('heads', []):
            if h['showdoc']: shown.setdefault(h['text'], []).append(pages[nb])
    nb_of_page = {re.sub(r'^\d+[zZ]*_', '', nb.stem) + '.html': nb for nb in nbs}
    nb_of_page.update({p: nb for nb, p in pages.items()})
    api_missing = []
    for mod, names in public_api(root, cfg.lib_name).items():
        for nm, want_page in names:
            if nm in shown: continue
            nb = nb_of_page.get(want_page)
            msg = f'no API entry (show_doc heading) for {mod}.{nm}'
            if nb is not None and nb not in results: msg += f' (its page, {want_page}, could not be checked)'
            if nb is not None: problems[nb].append(msg)
            else: api_missing.append(msg + f' (expected on {want_page}, which no notebook produces)')

    # the experiment page
    exp_nb = next((nb for nb in nbs if nb.name == EXPERIMENT_NB), None)
    if exp_nb is None: api_missing.append(f'there is no {EXPERIMENT_NB} (the experiment page)')
    elif exp_nb in results:
        r = results[exp_nb]
        if r.get('loaded', 0) < MIN_EXPERIMENT_IMAGES:
            problems[exp_nb].append(
                f"the experiment page shows {r.get('loaded', 0)} loaded image(s) of {r.get('images', 0)}; it needs at least "
                f'{MIN_EXPERIMENT_IMAGES} (figures come from the outputs saved in {EXPERIMENT_NB}: run it and save it with outputs)')
        if not any('Teacher' in t and 'Student' in t for t in r.get('tables', [])):
            problems[exp_nb].append(
                f"the experiment page has no results table (an HTML <table> in a cell output whose text has 'Teacher' and 'Student'; "
                f"it has {len(r.get('tables', []))} table(s) in outputs); {EXPERIMENT_NB} must be saved with the results table output")

    # --- report
    log('== results')
    w = max(len(str(nb.relative_to(nbs_path))) for nb in nbs)
    failed = 0
    for nb, probs in problems.items():
        r = results.get(nb, {})
        imgs = f"{r['loaded']}/{r['images']} images" if 'images' in r else '-/- images'
        page = pages.get(nb, '-')
        log(f"{str(nb.relative_to(nbs_path)):<{w}}  {page:<18} {imgs:<12} {'OK' if not probs else 'FAILED'}")
        for p in probs: log(f'    - {p}')
        for n in proc_notes.get(nb, []): log(f'    (note: {n})')
        if r.get('js_errors'): log(f"    (note: JavaScript errors: {'; '.join(str(e)[:100] for e in r['js_errors'][:3])})")
        failed += bool(probs)
    for p in api_missing: log(f'  - {p}')
    log(f'screenshots: {out}/*.png; site: {site}/index.html')
    ok = not failed and not api_missing
    log(f'docs check: {len(nbs) - failed} pages passed, {failed} failed' + ('' if not api_missing else f', {len(api_missing)} other problem(s)'))
    return 0 if ok else 1

if __name__ == '__main__':
    sys.exit(main())
