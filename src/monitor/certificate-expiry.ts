// Certificate expiry warnings: a pure function from the certificate a run saw and the warnings already sent to
// the warning due now. A warning is an alert of its own, never a state: the site stays up while it holds.
export const defaultCertificateWarningDays = [14, 3] as const;
const dayMs = 86_400_000;

/** The smallest threshold already warned about for one certificate (its notAfter). */
export interface CertificateWarningState {
  notAfter: string;
  warnedDays: number;
}

/** Whole days left before notAfter (negative once expired). */
export function daysLeftOf(notAfter: string, nowMs: number): number {
  return Math.floor((Date.parse(notAfter) - nowMs) / dayMs);
}

export interface CertificateCheck {
  /** What to keep with the monitor's state (undefined: nothing to remember). */
  state: CertificateWarningState | undefined;
  /** Present when a warning is due now: the threshold crossed and the days left. */
  warning?: { notAfter: string; thresholdDays: number; daysLeft: number };
}

/**
 * One warning per threshold per certificate: crossing 14 days warns once, crossing 3 warns again, and a
 * renewed certificate (another notAfter) starts over. A run that saw no certificate (the site was down, or it
 * is plain HTTP) and a run in maintenance change nothing, so a warning held back is sent by the next run.
 */
export function checkCertificate(
  notAfter: string | undefined,
  nowMs: number,
  thresholdsDays: readonly number[],
  last: CertificateWarningState | undefined,
  isMaintenance: boolean,
): CertificateCheck {
  if (notAfter === undefined || Number.isNaN(Date.parse(notAfter)) || isMaintenance) return { state: last };
  const current = last?.notAfter === notAfter ? last : undefined;
  const daysLeft = daysLeftOf(notAfter, nowMs);
  const crossed = thresholdsDays.filter((days) => daysLeft <= days);
  if (crossed.length === 0) return { state: current };
  const thresholdDays = Math.min(...crossed);
  if (current && current.warnedDays <= thresholdDays) return { state: current };
  return { state: { notAfter, warnedDays: thresholdDays }, warning: { notAfter, thresholdDays, daysLeft } };
}
