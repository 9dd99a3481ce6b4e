// The HTML around the diagnose and result pages: head, header with the API-key form, footer.
import { escapeHtml } from '../monitor/status/text.js';

export interface LayoutOptions {
  title: string;
  isKeyRequired: boolean;
  /** Seconds after which the page reloads itself (a pending result without scripts). */
  refreshSeconds?: number;
}

export function renderDocument(heading: string, main: string, options: LayoutOptions): string {
  const refresh =
    options.refreshSeconds === undefined
      ? ''
      : `\n  <meta http-equiv="refresh" content="${options.refreshSeconds}">`;
  return `<!doctype html>
<html lang="en" data-key-required="${options.isKeyRequired}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
  <title>${escapeHtml(options.title)}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/assets/pages.css">
  <script src="/assets/diagnose.js" defer></script>
</head>
<body>
  <a class="skip" href="#main">Skip to content</a>
  <header>
    <h1>${escapeHtml(heading)}</h1>
    <form class="key" id="key-form" hidden aria-label="API key">
      <label>API key <input type="password" name="key" autocomplete="off" placeholder="kept in this tab only"></label>
      <button type="submit">Keep key</button>
      <p class="message" id="key-message" role="status"></p>
    </form>
  </header>
  <main id="main">
${main}
  </main>
  <footer>
    <p><a href="/">Diagnose a URL</a> · <a href="/status">Status</a> · results are kept for a limited time.</p>
  </footer>
</body>
</html>
`;
}
