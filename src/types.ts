// The observation and report types: the public contract of `reach probe --json` and of the API's reports.

/** A DNS resolver to query, as an IP literal and a port. */
export interface ResolverSpec {
  host: string;
  port: number;
}

export type DnsRecordType = 'A' | 'AAAA';

export interface DnsAnswer {
  name: string;
  type: string;
  ttlSeconds: number;
  data: string;
}

/** A reply that arrived after the first one for the same query id (on-path injectors answer first). */
export interface DnsExtraReply {
  rcode: string;
  addresses: string[];
  afterFirstMs: number;
}

export type DnsQueryOutcome =
  | 'answer' // NOERROR with at least one address
  | 'nodata' // NOERROR, no address of this type
  | 'nxdomain'
  | 'servfail'
  | 'refused'
  | 'other_rcode'
  | 'truncated' // the UDP reply was truncated (TC), without an address, and the retry over TCP failed
  | 'timeout'
  | 'error';

export interface DnsQueryResult {
  type: DnsRecordType;
  outcome: DnsQueryOutcome;
  rcode?: string;
  /** Every record of the answer section, CNAMEs included. */
  answers: DnsAnswer[];
  /** The addresses of the queried type after following CNAMEs. */
  addresses: string[];
  cnameChain: string[];
  /** The addresses that are bogons (private, loopback, link-local, reserved ...). */
  bogons: string[];
  latencyMs: number;
  attempts: number;
  isTruncatedRetriedOverTcp: boolean;
  extraReplies: DnsExtraReply[];
  /**
   * The reasons the resolver attached to its reply (RFC 8914 Extended DNS Errors): a blocklist's "Blocked", a
   * validator's "Signature Expired", "No Reachable Authority" ... Absent when it gave none.
   */
  extendedErrors?: DnsExtendedError[];
  errno?: string;
  message?: string;
}

/** Extended DNS Error codes by which a resolver says it withholds or replaces the answer on purpose (its policy). */
export const policyBlockCodes: ReadonlySet<number> = new Set([4, 15, 16, 17]);

/** Extended DNS Error codes by which a validating resolver says the name's DNSSEC does not validate. */
export const dnssecFailureCodes: ReadonlySet<number> = new Set([1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 25, 27]);

/** Extended DNS Error codes by which a resolver says it could not reach the name's authoritative servers. */
export const unreachableAuthorityCodes: ReadonlySet<number> = new Set([22, 23]);

/** Extended DNS Error codes by which a resolver says it answered from its cache, its servers out of reach. */
export const staleAnswerCodes: ReadonlySet<number> = new Set([3, 19]);

/** One Extended DNS Error (RFC 8914) of a reply. */
export interface DnsExtendedError {
  /** The INFO-CODE: 15 Blocked, 16 Censored, 17 Filtered, 18 Prohibited, 7 Signature Expired, 22 No Reachable Authority ... */
  code: number;
  /** The IANA registry's name for the code; absent for a code outside it. */
  name?: string;
  /** The EXTRA-TEXT the resolver wrote (up to 200 characters), when it wrote one. */
  text?: string;
}

export interface DnsResolverResult {
  resolver: string;
  queries: DnsQueryResult[];
}

export interface DnsObservation {
  name: string;
  /** True when the name itself is local (localhost, *.local, *.internal ...), so bogon answers are expected. */
  isLocalName: boolean;
  resolvers: DnsResolverResult[];
  /** The addresses the probe went on with (from resolvers whose answers were not judged tampered). */
  addresses: string[];
  /**
   * Asked when some resolvers say the name does not exist (NXDOMAIN) while others answer it: each answering
   * resolver is asked for a made-up name in the same domain. One that answers that too invents answers for
   * names that do not exist (NXDOMAIN rewriting); its addresses are not used.
   */
  nxdomainCanary?: DnsCanary;
  durationMs: number;
}

export interface DnsCanary {
  /** The made-up name: a random label under the name's registrable domain. */
  name: string;
  results: Array<{ resolver: string; outcome: DnsQueryOutcome; addresses: string[] }>;
}

export type ConnectFailureKind =
  | 'refused'
  | 'reset'
  | 'timeout'
  | 'host_unreachable'
  | 'net_unreachable'
  | 'refused_by_policy'
  /** The probe's deadline came before this address was tried (elapsedMs is 0). */
  | 'not_attempted'
  | 'error';

export type ConnectOutcome =
  | {
      kind: 'connected';
      address: string;
      port: number;
      family: 4 | 6;
      connectMs: number;
      /** Milliseconds after the first attempt that this one began (Happy Eyeballs staggers attempts). */
      startedAfterMs?: number;
    }
  | {
      kind: ConnectFailureKind;
      address: string;
      port: number;
      family: 4 | 6;
      elapsedMs: number;
      errno?: string;
      message?: string;
      /** Milliseconds after the first attempt that this one began (Happy Eyeballs staggers attempts). */
      startedAfterMs?: number;
    };

export interface CertificateSummary {
  subject: string;
  subjectAltNames: string[];
  issuer: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
  /**
   * Where the issuer's certificate can be fetched (Authority Information Access, "CA Issuers"): public CAs put it
   * in every leaf, and browsers use it to fill in an intermediate the server left out.
   */
  issuerCertificateUrls?: string[];
}

export type TlsOutcomeKind = 'established' | 'reset' | 'closed' | 'alert' | 'timeout' | 'error';

export interface TlsObservation {
  address: string;
  servername: string | null;
  outcome: TlsOutcomeKind;
  handshakeMs: number;
  protocol?: string;
  alpn?: string;
  certificate?: CertificateSummary;
  /** The verification error OpenSSL reported (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ...), if any. */
  verifyError?: string;
  /**
   * With CERT_HAS_EXPIRED or CERT_NOT_YET_VALID: the first certificate of the chain whose dates did not cover the
   * handshake (depth 0 the site's own, 1 the intermediate that issued it, ...). An expired intermediate fails
   * every client though the site's own certificate is current.
   */
  outOfDateCertificate?: { depth: number; subject: string; validFrom: string; validTo: string };
  isTrusted: boolean;
  errno?: string;
  message?: string;
  bytesSent: number;
  /**
   * After a handshake with no answer (`timeout`): the bytes of our ClientHello the peer's TCP had still not
   * acknowledged (Linux's tx_queue, a FIN we queued counting one). At least `bytesSent`: the ClientHello never
   * reached the server's TCP; below it: the server received it and did not answer. Absent where the kernel does
   * not say (not Linux).
   */
  unacknowledgedBytes?: number;
  /** A second look at the same port after the server refused the handshake (tls-follow-up.ts). */
  followUp?: TlsFollowUp;
}

/**
 * After a handshake refused for its version or ciphers: a handshake on a new connection that also offers TLS 1.0
 * and 1.1 and the ciphers OpenSSL 3 leaves out by default. After a reply that is not TLS at all: a plain-text
 * HTTP request on a new connection, and the first line of what came back.
 */
export type TlsFollowUp =
  | {
      kind: 'legacy_handshake';
      outcome: TlsOutcomeKind;
      protocol?: string;
      cipher?: string;
      errno?: string;
      elapsedMs: number;
    }
  | {
      kind: 'plaintext_request';
      outcome: 'response' | 'no_response' | 'error';
      /** The first line of the reply, when it reads as HTTP (`HTTP/1.1 400 Bad Request`). */
      statusLine?: string;
      /** The first bytes of the reply as text (at most 120 characters). */
      replyPrefix: string;
      errno?: string;
      elapsedMs: number;
    };

/** How an HTTP exchange ended. */
export type HttpOutcomeKind =
  | 'response' // a status line and headers arrived
  | 'empty_reply' // the peer closed (FIN) without a response
  | 'reset' // RST (ECONNRESET)
  | 'headers_timeout'
  | 'body_timeout'
  | 'body_cut' // the status came, then the peer closed (FIN) before the end of the body it announced
  | 'protocol_error' // the reply broke HTTP/1.1 (not HTTP at all, or a malformed chunk in the body)
  | 'connect_failed'
  | 'tls_failed'
  | 'dns_failed'
  | 'refused_by_policy'
  | 'error';

export interface HttpTimings {
  /**
   * Resolving the hop's name (absent for an IP literal, a hop on a reused connection, and the differential's
   * requests).
   */
  dnsMs?: number;
  connectMs?: number;
  tlsMs?: number;
  firstByteMs?: number;
  totalMs: number;
}

export interface HttpExchange {
  url: string;
  address: string;
  port: number;
  /** The Host header and SNI used: the target's name, or a neutral one for the differential test. */
  hostHeader: string;
  path: string;
  servername: string | null;
  outcome: HttpOutcomeKind;
  status?: number;
  statusText?: string;
  headers: {
    server?: string;
    location?: string;
    retryAfter?: string;
    contentType?: string;
    /** Proxies on the way (a filtering proxy often names itself here). */
    via?: string;
    /** RFC 8288 links; a 451 names who blocks with rel="blocked-by" (RFC 7725). */
    link?: string;
    /** A CDN's bot-challenge marker (Cloudflare's cf-mitigated: challenge). */
    cfMitigated?: string;
  };
  /** The first bytes of a text body (up to 4 KiB), kept to recognise block pages and challenges. */
  bodyPrefix?: string;
  /**
   * The names of the response's header fields, lower case, in the order they came: a server's HTTP stack sends
   * the same set (Date, Server ...) on every answer, a forged page rarely does.
   */
  headerNames?: string[];
  timings: HttpTimings;
  /** Bytes we had written on the connection when it ended: > 0 means our request (or ClientHello) went out. */
  bytesSent: number;
  bytesReceived: number;
  isRequestSent: boolean;
  /** The peer's FIN was seen before the connection failed. */
  hasPeerFin: boolean;
  /**
   * After no response came: the bytes we sent that the peer's TCP had still not acknowledged when the exchange
   * ended (Linux's tx_queue, a FIN we queued counting one). At least `bytesSent`: our request never reached the
   * server's TCP; below it: the server received the request and did not answer. Absent where the kernel does not
   * say (not Linux).
   */
  unacknowledgedBytes?: number;
  bodyBytes: number;
  isBodyTruncated: boolean;
  /**
   * How the TLS handshake of a new connection ended, when it failed (`outcome: 'tls_failed'`); after a timeout on
   * Linux, the bytes of the ClientHello the server's TCP had not acknowledged (as TlsObservation's).
   */
  tlsHandshake?: { outcome: TlsOutcomeKind; bytesSent: number; unacknowledgedBytes?: number };
  /**
   * The completed handshake of an https connection this exchange opened itself (a redirect hop, a side
   * request): its certificate and how it was judged. The first exchange's is the target's `tls`.
   */
  tls?: TlsObservation;
  /**
   * Sent on the connection the hop before left open, as a browser sends a redirect to the same origin: no connect
   * or handshake of its own (no connect or TLS timings). `connectMs` is that connection's connect time, the round
   * trip to the server.
   */
  reusedConnection?: { connectMs?: number };
  errno?: string;
  message?: string;
  /** Milliseconds since the probe started when this exchange began. */
  startedAtMs: number;
}

export interface RedirectHop {
  exchange: HttpExchange;
  registrableDomain: string | null;
  /** The differential retry of a redirect hop that failed after our bytes went out (the first hop's is the target's). */
  differential?: DifferentialObservation;
}

export interface HttpObservation {
  hops: RedirectHop[];
  finalUrl: string;
  /** The registrable domain of the URL asked for (via the public suffix list). */
  registrableDomain: string | null;
  isRedirectLimitReached: boolean;
  /**
   * Why the last hop's Location was not followed though it parses as an http(s) URL: what keeps it from being
   * asked for ("has a host name with a label longer than the 63 characters DNS allows", "names port 0 ...").
   */
  unfollowableLocation?: string;
}

/**
 * The neutral-versus-original comparison run when an exchange failed after our bytes went out, tagged by the
 * layer it compared. When the original stalls, the side requests run beside it (`isConcurrent`) while the
 * original keeps its whole budget.
 */
export type DifferentialObservation = HttpDifferentialObservation | TlsDifferentialObservation;

export interface HttpDifferentialObservation {
  layer: 'http';
  trigger: 'reset' | 'empty_reply' | 'timeout';
  /** The address as Host, path "/", no SNI: none of the target's names. */
  neutral: HttpExchange;
  /** The original request again on a new connection. */
  retry: HttpExchange;
  /**
   * HEAD of the original path with the original Host, sent when the original stalled: a small answer that gets
   * through while the full response never arrives points at packets dropped by size (a path MTU black hole).
   */
  small?: HttpExchange;
  isConcurrent?: boolean;
  /** What was sent when, for a person reading the evidence. */
  steps: string[];
}

export interface TlsDifferentialObservation {
  layer: 'tls';
  trigger: 'tls_reset' | 'tls_timeout' | 'tls_closed';
  /** A ClientHello without SNI to the same address. */
  neutral: TlsObservation;
  /** The ClientHello with SNI again on a new connection. */
  retry: TlsObservation;
  isConcurrent?: boolean;
  steps: string[];
}

/**
 * The same request again on a raw socket we read ourselves, listening on after the answer was complete: the
 * one request was sent, so any byte after a complete answer is a second answer on the same connection (an
 * injector's forged page first, then the tail of the server's own, which TCP does not drop where it is longer).
 */
export interface ReplayObservation {
  address: string;
  port: number;
  hostHeader: string;
  path: string;
  outcome: 'response' | 'incomplete' | 'reset' | 'timeout' | 'connect_failed' | 'error';
  status?: number;
  headerNames?: string[];
  /** Bytes of the first complete answer: status line, headers and body as its framing announced. */
  responseBytes?: number;
  /** Bytes that arrived after the first answer was complete (a second answer, or its tail). */
  bytesAfterResponse: number;
  /** The first of those bytes, printable, for a person reading the evidence. */
  afterResponsePrefix?: string;
  /** Milliseconds after the first answer was complete that the first extra byte came. */
  afterResponseMs?: number;
  /** The peer closed (FIN) after the first answer, then the connection was reset: data came after its end. */
  isResetAfterFin: boolean;
  connectMs?: number;
  /** From the request written to the first byte of the answer. */
  firstByteMs?: number;
  /** How long we listened after the request went out. */
  listenedMs: number;
  errno?: string;
}

/**
 * Run when the final answer is a 2xx over plain http (a page a middlebox can forge): what the same server
 * returns otherwise, to compare the answer for the name with.
 */
export interface PageCheckObservation {
  /** The final request again, read on a raw socket for a second answer after the first. */
  replay: ReplayObservation;
  /** The address as Host, path "/": the same server's answer for no name of the site. */
  neutral: HttpExchange;
  /** The same request to the addresses other resolvers gave for the name (at most two), when they disagree. */
  elsewhere: HttpExchange[];
}

export interface TargetObservation {
  url: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  isIpLiteral: boolean;
  dns: DnsObservation | null;
  tcp: ConnectOutcome[];
  tls: TlsObservation | null;
  http: HttpObservation | null;
  differential: DifferentialObservation | null;
  /** The comparison run when the final answer is a 2xx over plain http (absent otherwise). */
  pageCheck?: PageCheckObservation;
  /** The content checks asked for (a monitor's `expect`), judged on the final answer (absent otherwise). */
  content?: ContentObservation;
  /** Why a phase did not run (deadline, policy), when it did not. */
  notes: string[];
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What the final answer must be, beyond "it answered": a monitor's content checks. Every field is optional; a
 * probe without them reads no more of the body than it always does.
 */
export interface ContentExpectations {
  /** Accepted final statuses: codes (200) and inclusive ranges ("200-299"). */
  statuses?: Array<number | string>;
  /** Texts the body must contain (case-sensitive), each. */
  bodyContains?: string[];
  /** Texts the body must not contain (case-sensitive), any. */
  bodyNotContains?: string[];
  /** Values the JSON body must hold at a path ($.a.b[0]["c d"]: the subset in diagnosis/json-path.ts). */
  json?: Array<{ path: string; equals: JsonValue }>;
  /** The final answer's body must be complete within this many ms of the probe's start (DNS included). */
  maxResponseMs?: number;
}

export type ContentCheckKind = 'status' | 'body_contains' | 'body_not_contains' | 'json' | 'response_time';

/** One content check and how the final answer met it: both sides in words, truncated. */
export interface ContentCheck {
  kind: ContentCheckKind;
  isMet: boolean;
  expected: string;
  actual: string;
}

export interface ContentObservation {
  url: string;
  status: number;
  /** From the probe's start to the end of the final answer's body. */
  responseMs: number;
  /** Body bytes the checks read (at most the probe's maxBodyBytes). */
  bodyBytesRead: number;
  /** The body was longer than what was read: texts and JSON were judged on its first bytes. */
  isBodyTruncated: boolean;
  checks: ContentCheck[];
}

/** The closed list of verdict causes (docs/causes.md). */
export const causes = [
  'ok',
  'dns_failure',
  'server_fault',
  'local_network',
  'overload',
  'domain_migration',
  'filtered_path',
] as const;

export type Cause = (typeof causes)[number];

export interface Verdict {
  cause: Cause;
  code: string;
  confidence: number;
  summary: string;
  /** The observations the verdict rests on, in words, each naming its layer. */
  evidence: string[];
  /** The rule of the classifier that decided. */
  rule: string;
}

export interface ControlResult {
  url: string;
  /** The control reached an HTTP response. */
  isReachable: boolean;
  verdict: Verdict;
  target: TargetObservation;
}

/**
 * Something degraded that did not stop the site from working (the verdict can still be `ok`): for example one
 * of the name's addresses that does not answer while another does.
 */
export interface Warning {
  /** Stable, from a closed list (docs/causes.md, "Warnings"): `path.address_unreachable`. */
  code: string;
  summary: string;
  /** The observations the warning rests on, in words, each naming its layer. */
  evidence: string[];
}

export interface Report {
  schemaVersion: 1;
  url: string;
  startedAt: string;
  durationMs: number;
  timeoutMs: number;
  resolvers: string[];
  target: TargetObservation;
  controls: ControlResult[];
  verdict: Verdict;
  /** Degraded paths and other problems that did not decide the verdict; empty when none. */
  warnings: Warning[];
}

export interface Thresholds {
  /** Time to first byte at or above this is slow, if also far above the round trip. */
  slowFirstByteMs: number;
  /** Time to first byte at or above this many times the connect round trip is slow (with slowFirstByteMs). */
  slowFirstByteRatio: number;
}

export const defaultThresholds: Thresholds = { slowFirstByteMs: 2000, slowFirstByteRatio: 10 };

/** Input to the classifier: everything observed. */
export interface Observations {
  target: TargetObservation;
  controls: ControlResult[];
  thresholds: Thresholds;
}

/** How one vantage's part of a multi-vantage probe ended. */
export type VantageStatus = 'completed' | 'lost' | 'refused' | 'failed';

/** One vantage's part of a multi-vantage probe: its report when it completed. */
export interface VantageResult {
  name: string;
  labels: Record<string, string>;
  status: VantageStatus;
  report?: Report;
  /** Why there is no report (lost by the deadline, refused by that vantage's policy, failed). */
  reason?: string;
}

/** A probe run from several vantages: each vantage's report and one verdict that compares them. */
export interface MultiVantageReport {
  schemaVersion: 1;
  url: string;
  startedAt: string;
  durationMs: number;
  vantages: VantageResult[];
  verdict: Verdict;
}
