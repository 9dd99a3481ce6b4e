// The status page's one script (GET /status-live.js): it keeps an open page current without reloading it.
// Every STATUS_REFRESH_SECONDS it fetches the same page again (a 304 from the HTTP cache when nothing
// changed) and swaps in the regions marked data-live that differ, so the reader keeps their place, their
// focus and what they typed in the filter. It skips a region holding the focus, waits while the tab is
// hidden (and catches up when it shows again), and a button pauses it, remembered for the next visit (WCAG
// 2.2.2). The banner is a role="status" region, so a changed overall state is announced once; the brief
// highlight of a changed region is drawn only for readers who have not asked for reduced motion (the style
// sheet's media query). Without scripts the page is the same page, and ?refresh=on still reloads it.

/** The path the page loads the script from, relative to /status. */
export const liveScriptPath = 'status-live.js';

export const statusLiveScript = `'use strict';
(() => {
  const root = document.documentElement;
  const seconds = Number(root.dataset.liveSeconds);
  const control = document.getElementById('live');
  if (!seconds || !control || !window.fetch || !window.DOMParser) return;
  const state = document.getElementById('live-state');
  const toggle = document.getElementById('live-toggle');
  const reload = document.getElementById('reload-link');
  const storageKey = 'reach.status.live';
  const remembered = () => {
    try { return window.localStorage.getItem(storageKey); } catch { return null; }
  };
  const remember = (value) => {
    try { window.localStorage.setItem(storageKey, value); } catch { /* private mode: this visit only */ }
  };
  let isPaused = remembered() === 'paused';
  let isBusy = false;
  let lastCheckMs = Date.now();
  let lastText = '';
  let problem = '';

  const showState = () => {
    toggle.setAttribute('aria-pressed', String(isPaused));
    state.textContent = isPaused
      ? 'Live updates are paused.'
      : problem || 'This page keeps itself up to date every ' + seconds + ' seconds while it is open.';
  };

  async function update() {
    if (isPaused || document.hidden || isBusy) return;
    isBusy = true;
    lastCheckMs = Date.now();
    try {
      const response = await fetch(window.location.href, { cache: 'no-cache', headers: { accept: 'text/html' } });
      if (!response.ok) throw new Error('the page answered ' + response.status);
      const text = await response.text();
      problem = '';
      if (text === lastText) return;
      lastText = text;
      const next = new DOMParser().parseFromString(text, 'text/html');
      const focused = document.activeElement;
      for (const region of document.querySelectorAll('[data-live]')) {
        const fresh = next.querySelector('[data-live="' + region.dataset.live + '"]');
        if (!fresh || fresh.innerHTML === region.innerHTML) continue;
        // Replacing what holds the focus would throw the reader back to the top: next time.
        if (focused && focused !== document.body && region.contains(focused)) continue;
        region.innerHTML = fresh.innerHTML;
        region.className = fresh.className;
        region.classList.add('live-changed');
        setTimeout(() => region.classList.remove('live-changed'), 2000);
      }
      document.title = next.title;
    } catch (error) {
      problem = 'Live updates could not reach the service (' + error.message + '); trying again.';
    } finally {
      isBusy = false;
      showState();
    }
  }

  toggle.addEventListener('click', () => {
    isPaused = !isPaused;
    remember(isPaused ? 'paused' : 'on');
    showState();
    if (!isPaused) update();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && Date.now() - lastCheckMs >= seconds * 1000) update();
  });
  setInterval(update, seconds * 1000);
  if (reload) reload.hidden = true;
  control.hidden = false;
  showState();
})();
`;
