// The status page's style sheet: light and dark from the reader's system setting, readable on a phone.
export const statusStyles = `
  :root { color-scheme: light dark; --text: #1f2937; --muted: #4b5563; --line: #d1d5db; --bg: #f9fafb; --card: #fff;
    --link: #1d4ed8; --ok-bg: #dcfce7; --ok: #14532d; --warn-bg: #fef3c7; --warn: #78350f; --bad-bg: #fee2e2; --bad: #7f1d1d;
    --info-bg: #dbeafe; --info: #1e3a8a; --none-bg: #e5e7eb; --none: #374151; --day-none: #d1d5db; }
  @media (prefers-color-scheme: dark) {
    :root { --text: #e5e7eb; --muted: #9ca3af; --line: #374151; --bg: #111827; --card: #1f2937; --link: #93c5fd;
      --ok-bg: #14532d; --ok: #dcfce7; --warn-bg: #78350f; --warn: #fef3c7; --bad-bg: #7f1d1d; --bad: #fee2e2;
      --info-bg: #1e3a8a; --info: #dbeafe; --none-bg: #374151; --none: #e5e7eb; --day-none: #4b5563; }
  }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text); background: var(--bg); }
  .skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--card); padding: .5rem; }
  header, main, footer { max-width: 52rem; margin: 0 auto; padding: 1rem; }
  h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
  h2 { font-size: 1.25rem; margin: 1.5rem 0 .75rem; }
  h3 { font-size: 1.05rem; margin: 0; }
  .overall { border-radius: .5rem; padding: 1rem; font-size: 1.2rem; font-weight: 600; margin: 0; }
  .overall-none { background: var(--ok-bg); color: var(--ok); } .overall-minor { background: var(--warn-bg); color: var(--warn); }
  .overall-major, .overall-critical { background: var(--bad-bg); color: var(--bad); }
  .totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(7rem, 1fr)); gap: .5rem; margin: .75rem 0 0; }
  .totals div { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .5rem .75rem; display: flex; flex-direction: column; }
  ul.list { list-style: none; margin: 0; padding: 0; }
  .monitor, .incident { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; margin-bottom: .75rem; }
  .monitor-head { display: flex; justify-content: space-between; align-items: center; gap: .5rem; flex-wrap: wrap; }
  .badge { margin: 0; padding: .15rem .6rem; border-radius: 999px; font-weight: 600; font-size: .9rem; }
  .state-up { background: var(--ok-bg); color: var(--ok); } .state-degraded { background: var(--warn-bg); color: var(--warn); }
  .state-down { background: var(--bad-bg); color: var(--bad); } .state-maintenance { background: var(--info-bg); color: var(--info); }
  .state-pending { background: var(--none-bg); color: var(--none); }
  .cause { margin: .5rem 0; } .summary, .when, .note { color: var(--muted); }
  .figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(8rem, 1fr)); gap: .25rem 1rem; margin: .5rem 0; }
  .figures div { display: flex; flex-direction: column; } dt { color: var(--muted); font-size: .85rem; } dd { margin: 0; font-weight: 600; }
  .uptime { margin: .5rem 0 0; }
  .bar { display: flex; gap: 1px; list-style: none; margin: 0; padding: 0; height: 2rem; }
  .day { flex: 1 1 0; min-width: 0; border-radius: 1px; }
  .day-up { background: #15803d; } .day-degraded { background: #b45309; } .day-down { background: #b91c1c; }
  .day-maintenance { background: #1d4ed8; } .day-none { background: var(--day-none); }
  figcaption { display: flex; justify-content: space-between; color: var(--muted); font-size: .8rem; }
  .incident-open { border-left: .35rem solid #b91c1c; } .incident-resolved { border-left: .35rem solid #15803d; }
  .down-list li { display: flex; flex-wrap: wrap; gap: .25rem .75rem; padding: .4rem 0; border-bottom: 1px solid var(--line); }
  table { border-collapse: collapse; width: 100%; background: var(--card); }
  th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); }
  td.number, th.number { text-align: right; }
  .table-wrap { overflow-x: auto; }
  form.filter { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: 0 0 1rem; }
  form.filter label { display: flex; flex-direction: column; font-size: .9rem; color: var(--muted); }
  input, select, button { font: inherit; padding: .35rem .5rem; color: var(--text); background: var(--card); border: 1px solid var(--muted); border-radius: .35rem; }
  nav.pager { display: flex; justify-content: space-between; align-items: center; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
  .empty { color: var(--muted); }
  footer { color: var(--muted); font-size: .9rem; }
  a { color: var(--link); }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  [hidden] { display: none !important; }
  .live { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
  button[aria-pressed="true"] { background: var(--info-bg); color: var(--info); }
  @media (prefers-reduced-motion: no-preference) {
    .live-changed { animation: live-changed 2s ease-out; }
    @keyframes live-changed { from { outline: 3px solid var(--link); outline-offset: 2px; } to { outline: 3px solid transparent; outline-offset: 2px; } }
  }
`;
