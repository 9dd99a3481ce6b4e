// Numbers, times and text as the status views write them for people (HTML, Atom, badges).

/** Escapes text for HTML and XML content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export function percentText(value: number | null): string {
  if (value === null) return 'no data';
  const percent = value * 100;
  return `${percent === 100 ? '100' : percent.toFixed(2)}%`;
}

export function msText(value: number | null): string {
  return value === null ? '–' : `${Math.round(value)} ms`;
}

export function durationText(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return 'under a minute';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

export function timeText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Whether XML 1.0 allows a character at all (escaped or not): tab, newline, return and the printable rest. */
function isXmlCharacter(codePoint: number): boolean {
  if (codePoint < 0x20) return codePoint === 0x09 || codePoint === 0x0a || codePoint === 0x0d;
  return codePoint !== 0xfffe && codePoint !== 0xffff;
}

/** Text escaped for XML (Atom, SVG), with the characters XML forbids even escaped dropped. */
export function xmlText(text: string): string {
  let kept = '';
  for (const character of text) if (isXmlCharacter(character.codePointAt(0) ?? 0)) kept += character;
  return escapeHtml(kept);
}
