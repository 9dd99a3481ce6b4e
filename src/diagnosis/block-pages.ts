// Known block-page fingerprints, kept as data: a page or header that only a filter sends.
import type { HttpExchange } from '../types.js';

/**
 * One fingerprint. `where` is the part of the answer it is found in, `match` how (`contains` for bodies,
 * `prefix` or `full` for headers), `scope` who runs the filter (`nat`ional, `isp`, an `inst`itution), and
 * `source` the entry it comes from, so a reader can check it. The entries are a selection of
 * ooni/blocking-fingerprints (fingerprints_http.csv, a collection of OONI, Citizen Lab and Censored Planet
 * findings), each kept under its name there.
 */
export interface BlockPageFingerprint {
  where: 'body' | 'header.location' | 'header.server' | 'header.via';
  match: 'contains' | 'prefix' | 'full';
  pattern: string;
  scope: 'nat' | 'isp' | 'inst';
  countries: string[];
  source: string;
}

const ooni = (name: string) => `ooni/blocking-fingerprints ${name}`;

export const blockPageFingerprints: readonly BlockPageFingerprint[] = [
  {
    where: 'header.server',
    match: 'prefix',
    pattern: 'Protected by WireFilter',
    scope: 'nat',
    countries: ['AE', 'SA'],
    source: ooni('ooni.ae_0'),
  },
  {
    where: 'header.location',
    match: 'prefix',
    pattern: 'http://www.bluecoat.com/notify-NotifyUser1',
    scope: 'nat',
    countries: ['AE'],
    source: ooni('ooni.ae_1'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: '<title>Notification: Policy: URL Filtering</title>',
    scope: 'inst',
    countries: ['AU', 'DE', 'DK', 'FR'],
    source: ooni('ooni.au_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'Blocked by ContentKeeper',
    scope: 'isp',
    countries: ['AU', 'IL'],
    source: ooni('ooni.au_2'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'that is considered illegal according to Belgian legislation',
    scope: 'nat',
    countries: ['BE'],
    source: ooni('ooni.be_0'),
  },
  {
    where: 'header.location',
    match: 'prefix',
    pattern: 'https://vk.com/blank.php?rkn=',
    scope: 'nat',
    countries: ['BY', 'RU'],
    source: ooni('ooni.by_3'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'Access to this site has been blocked by an Order issued by the Federal Court of Canada',
    scope: 'isp',
    countries: ['CA'],
    source: ooni('ooni.ca_1'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'Esta página ha sido bloqueada por disposición del Ministerio de las TIC,',
    scope: 'nat',
    countries: ['CO'],
    source: ooni('ooni.co_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'lagt at blokere for adgang til siden.',
    scope: 'nat',
    countries: ['DK'],
    source: ooni('ooni.dk_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'xtpage = "page-blocage-terrorisme"',
    scope: 'nat',
    countries: ['FR', 'GF'],
    source: ooni('ooni.fr_0'),
  },
  {
    where: 'header.location',
    match: 'prefix',
    pattern: 'http://block.cf.sky.com',
    scope: 'isp',
    countries: ['GB'],
    source: ooni('ooni.gb_3'),
  },
  {
    where: 'header.location',
    match: 'prefix',
    pattern: 'http://www.vodafone.co.uk/restricted-content',
    scope: 'isp',
    countries: ['GB'],
    source: ooni('ooni.gb_1'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'www.gamingcommission.gov.gr/index.php/forbidden-access-black-list/',
    scope: 'nat',
    countries: ['GR'],
    source: ooni('ooni.gr_0'),
  },
  {
    where: 'header.location',
    match: 'prefix',
    pattern: 'http://internet-positif.org',
    scope: 'nat',
    countries: ['ID'],
    source: ooni('ooni.id_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'This page is blocked by <a href=http://trustpositif.kominfo.go.id',
    scope: 'nat',
    countries: ['ID'],
    source: ooni('ooni.id_6'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'The page you have requested has been blocked',
    scope: 'nat',
    countries: ['IN'],
    source: ooni('ooni.in_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'iframe src="http://10.10',
    scope: 'nat',
    countries: ['IR'],
    source: ooni('ooni.ir_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'peyvandha.ir/1-2',
    scope: 'nat',
    countries: ['IR'],
    source: ooni('ooni.ir_3'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'GdF Stop Page',
    scope: 'nat',
    countries: ['IT'],
    source: ooni('ooni.it_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'http://warning.or.kr',
    scope: 'nat',
    countries: ['KR'],
    source: ooni('ooni.kr_1'),
  },
  {
    where: 'header.location',
    match: 'full',
    pattern: 'http://www.warning.or.kr',
    scope: 'nat',
    countries: ['KR'],
    source: ooni('ooni.kr_2'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'block.om/newrequestform.aspx?accessurl=',
    scope: 'nat',
    countries: ['OM'],
    source: ooni('ooni.om_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: '<title>Bloqueado por ordem judicial</title>',
    scope: 'isp',
    countries: ['PT'],
    source: ooni('ooni.pt_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'censor.qa/?accessurl=',
    scope: 'isp',
    countries: ['QA'],
    source: ooni('ooni.qa_1'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'Accesul dumneavoastră către acest site a fost restricționat',
    scope: 'nat',
    countries: ['RO'],
    source: ooni('ooni.ro_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'Доступ к сайту ограничен в соответствии с Федеральными законами',
    scope: 'nat',
    countries: ['RU'],
    source: ooni('ooni.ru_0'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: 'http://eais.rkn.gov.ru/',
    scope: 'nat',
    countries: ['RU'],
    source: ooni('ooni.ru_5'),
  },
  {
    where: 'header.location',
    match: 'prefix',
    pattern: 'http://warning.rt.ru',
    scope: 'nat',
    countries: ['RU'],
    source: ooni('ooni.ru_6'),
  },
  {
    where: 'header.location',
    match: 'prefix',
    pattern: 'http://block.rt.ru',
    scope: 'isp',
    countries: ['RU'],
    source: ooni('ooni.ru_25'),
  },
  {
    where: 'body',
    match: 'contains',
    pattern: '<p>Redirecting you to Barracuda Web Filter.</p>',
    scope: 'inst',
    countries: ['PA'],
    source: ooni('ooni.pa_0'),
  },
  {
    where: 'header.server',
    match: 'prefix',
    pattern: 'Olfeo',
    scope: 'inst',
    countries: ['FR'],
    source: ooni('ooni.fr_2'),
  },
];

export interface BlockPageMatch {
  fingerprint: BlockPageFingerprint;
  /** Which answer matched (a redirect hop's Location, or the final page). */
  url: string;
}

function partOf(exchange: HttpExchange, where: BlockPageFingerprint['where']): string | undefined {
  switch (where) {
    case 'body':
      return exchange.bodyPrefix;
    case 'header.location':
      return exchange.headers.location;
    case 'header.server':
      return exchange.headers.server;
    case 'header.via':
      return exchange.headers.via;
  }
}

function isMatch(text: string, fingerprint: BlockPageFingerprint): boolean {
  if (fingerprint.match === 'contains') return text.includes(fingerprint.pattern);
  if (fingerprint.match === 'prefix') return text.startsWith(fingerprint.pattern);
  return text === fingerprint.pattern;
}

/** The first known fingerprint found in any answer of the exchanges, if one is. */
export function findBlockPage(
  exchanges: readonly HttpExchange[],
  fingerprints: readonly BlockPageFingerprint[] = blockPageFingerprints,
): BlockPageMatch | undefined {
  for (const exchange of exchanges) {
    if (exchange.outcome !== 'response') continue;
    for (const fingerprint of fingerprints) {
      const text = partOf(exchange, fingerprint.where);
      if (text !== undefined && isMatch(text, fingerprint)) return { fingerprint, url: exchange.url };
    }
  }
  return undefined;
}
