// The pages' two static files, served from /assets/: the style sheet and the one script (no inline code, so
// the Content-Security-Policy can allow scripts and styles from this origin only).

export const pagesStyles = `
:root { color-scheme: light dark; --text: #1f2937; --muted: #4b5563; --line: #d1d5db; --bg: #f9fafb; --card: #fff;
  --link: #1d4ed8; --ok-bg: #dcfce7; --ok: #14532d; --bad-bg: #fee2e2; --bad: #7f1d1d; --warn-bg: #fef3c7; --warn: #78350f;
  --dns: #7c3aed; --connect: #c2410c; --tls: #0e7490; --wait: #15803d; --receive: #1d4ed8; --failed: #9ca3af; --mark: #b91c1c; --tick: #e5e7eb; }
@media (prefers-color-scheme: dark) {
  :root { --text: #e5e7eb; --muted: #9ca3af; --line: #374151; --bg: #111827; --card: #1f2937; --link: #93c5fd;
    --ok-bg: #14532d; --ok: #dcfce7; --bad-bg: #7f1d1d; --bad: #fee2e2; --warn-bg: #78350f; --warn: #fef3c7;
    --dns: #a78bfa; --connect: #fb923c; --tls: #22d3ee; --wait: #4ade80; --receive: #60a5fa; --failed: #6b7280; --mark: #f87171; --tick: #374151; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text); background: var(--bg); }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--card); padding: .5rem; }
header, main, footer { max-width: 72rem; margin: 0 auto; padding: .75rem 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0; } h2 { font-size: 1.2rem; margin: 0 0 .5rem; } h3 { font-size: 1.05rem; margin: 0 0 .5rem; }
a { color: var(--link); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; margin: 0 0 1rem; }
form.probe { display: grid; gap: .75rem; }
form.probe label, form.key label { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; }
form.probe .hint { font-weight: 400; color: var(--muted); font-size: .9rem; }
input, textarea, button { font: inherit; padding: .45rem .6rem; color: var(--text); background: var(--bg); border: 1px solid var(--muted); border-radius: .35rem; width: 100%; }
button { width: auto; background: var(--link); color: var(--card); border-color: var(--link); font-weight: 600; cursor: pointer; justify-self: start; }
details.options { border-top: 1px solid var(--line); padding-top: .5rem; }
details.options[open] { display: grid; gap: .75rem; }
form.key { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
form.key label { flex: 1 1 16rem; }
.message { min-height: 1.5rem; margin: 0; } .message.error { color: var(--bad); font-weight: 600; }
.verdict { border-left: .4rem solid var(--bad); padding-left: .75rem; }
.verdict-ok { border-left-color: var(--wait); }
.verdict-summary { margin: .25rem 0 .5rem; }
.verdict-facts { display: flex; flex-wrap: wrap; gap: .25rem 1.5rem; margin: 0; }
.verdict-facts div { display: flex; flex-direction: column; } dt { color: var(--muted); font-size: .85rem; } dd { margin: 0; font-weight: 600; }
.meta, .summary, .empty, .legend { color: var(--muted); font-size: .9rem; overflow-wrap: anywhere; }
.lanes { display: grid; gap: 1rem; grid-template-columns: 1fr; }
@media (min-width: 60rem) { .lanes-2 { grid-template-columns: 1fr 1fr; } .lanes-3 { grid-template-columns: 1fr 1fr 1fr; } }
.lane { min-width: 0; } .lane-name { margin-top: .5rem; }
.lane-scroll { overflow-x: auto; max-width: 100%; } .lane-scroll:focus-visible { outline: 2px solid var(--link); outline-offset: 2px; }
svg.waterfall { display: block; width: 100%; min-width: 36rem; height: auto; font: 11px system-ui, sans-serif; }
svg.waterfall text { fill: var(--text); }
svg.waterfall .tick { stroke: var(--tick); stroke-width: 1; }
svg.waterfall .tick-label { fill: var(--muted); }
.seg-dns { fill: var(--dns); } .seg-connect { fill: var(--connect); } .seg-tls { fill: var(--tls); }
.seg-wait { fill: var(--wait); } .seg-receive { fill: var(--receive); } .seg-failed { fill: var(--failed); }
svg.waterfall .end path, svg.waterfall .end circle { stroke: var(--mark); stroke-width: 2.5; fill: none; }
svg.waterfall .end-timeout path { fill: var(--mark); }
svg.waterfall .end text { fill: var(--mark); font-weight: 700; }
.key::before { content: ""; display: inline-block; width: .8rem; height: .8rem; margin-right: .25rem; vertical-align: -.1rem; border-radius: 2px; }
.key-dns::before { background: var(--dns); } .key-connect::before { background: var(--connect); } .key-tls::before { background: var(--tls); }
.key-wait::before { background: var(--wait); } .key-receive::before { background: var(--receive); } .key-failed::before { background: var(--failed); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
td.number, th.number { text-align: right; white-space: nowrap; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
footer { color: var(--muted); font-size: .9rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
[hidden] { display: none !important; }
`;

/**
 * Submits the form to POST /probe and opens the result's page; on a result page of a service with API keys,
 * polls GET /probe/:id with the tab's key and then shows the rendered result (GET /results/:id). The key
 * lives in sessionStorage: this tab only, gone when it closes.
 */
export const diagnoseScript = `'use strict';
(() => {
  const keyName = 'reach.apiKey';
  const root = document.documentElement;
  const isKeyRequired = root.dataset.keyRequired === 'true';
  const storedKey = () => window.sessionStorage.getItem(keyName) || '';
  const headers = (extra) => {
    const all = Object.assign({ accept: 'application/json' }, extra || {});
    if (storedKey()) all.authorization = 'Bearer ' + storedKey();
    return all;
  };
  const say = (element, text, isError) => {
    if (!element) return;
    element.textContent = text;
    element.classList.toggle('error', Boolean(isError));
  };
  const problemText = (problem, status) => {
    const fields = Array.isArray(problem.errors)
      ? problem.errors.map((error) => (error.field ? error.field + ': ' : '') + error.message).join('; ')
      : '';
    const head = problem.detail || problem.title || 'The request failed (' + status + ')';
    return fields && !head.includes(fields) ? head + ' — ' + fields : head;
  };

  const keyForm = document.getElementById('key-form');
  const keyMessage = document.getElementById('key-message');
  if (keyForm && isKeyRequired) {
    keyForm.hidden = false;
    if (storedKey()) say(keyMessage, 'A key is kept for this tab.', false);
    keyForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = String(new FormData(keyForm).get('key') || '').trim();
      if (key) window.sessionStorage.setItem(keyName, key);
      else window.sessionStorage.removeItem(keyName);
      keyForm.reset();
      say(keyMessage, key ? 'Key kept for this tab.' : 'Key removed.', false);
      const result = document.getElementById('result');
      if (result && result.dataset.fetch === 'true' && key) load(result);
    });
  }

  const form = document.getElementById('probe-form');
  const message = document.getElementById('form-message');
  const list = (value) => String(value || '').split(/[\\s,]+/).map((item) => item.trim()).filter(Boolean);
  if (form) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const body = { url: String(data.get('url') || '').trim() };
      const resolvers = list(data.get('resolvers'));
      if (resolvers.length > 0) body.resolvers = resolvers;
      const controls = list(data.get('controls'));
      if (controls.length > 0) body.controls = controls;
      const vantages = String(data.get('vantages') || '').trim();
      if (vantages) body.vantages = vantages === 'all' ? 'all' : list(vantages);
      if (isKeyRequired && !storedKey()) {
        say(message, 'This service needs an API key: enter it above first.', true);
        return;
      }
      const button = form.querySelector('button');
      button.disabled = true;
      say(message, 'Submitting…', false);
      try {
        const response = await fetch('/probe', {
          method: 'POST',
          headers: headers({ 'content-type': 'application/json' }),
          body: JSON.stringify(body),
        });
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) {
          say(message, problemText(answer, response.status), true);
          return;
        }
        say(message, 'Submitted: opening the result…', false);
        window.location.assign('/r/' + encodeURIComponent(answer.id));
      } catch (error) {
        say(message, 'The service could not be reached: ' + error.message, true);
      } finally {
        button.disabled = false;
      }
    });
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  async function load(result) {
    const id = result.dataset.id;
    const status = document.getElementById('result-message');
    if (!storedKey()) {
      say(status, 'This result needs the API key: enter it above.', true);
      return;
    }
    say(status, 'Loading the result…', false);
    for (let attempt = 0; attempt < 900; attempt += 1) {
      const response = await fetch('/probe/' + encodeURIComponent(id), { headers: headers() });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        say(status, problemText(answer, response.status), true);
        return;
      }
      if (answer.status === 'completed' || answer.status === 'failed') break;
      say(status, answer.status === 'active' ? 'Probing…' : 'Waiting for a worker…', false);
      await sleep(1000);
    }
    const page = await fetch('/results/' + encodeURIComponent(id), { headers: headers({ accept: 'text/html' }) });
    if (!page.ok) {
      say(status, 'The result could not be read (' + page.status + ').', true);
      return;
    }
    result.innerHTML = await page.text();
    say(status, '', false);
  }
  const result = document.getElementById('result');
  if (result && result.dataset.fetch === 'true') load(result);
})();
`;
