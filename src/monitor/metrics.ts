// Per-monitor Prometheus gauges named like blackbox_exporter's, read from the stored state at scrape time.
import { Gauge, type Registry } from 'prom-client';
import { daysLeftOf } from './certificate-expiry.js';
import { monitorStateValues } from './records.js';
import type { MonitorStore } from './store.js';

const labelNames = ['monitor', 'monitor_id', 'cause'] as const;
const phases = ['resolve', 'connect', 'tls', 'processing', 'transfer'] as const;

/**
 * Registers the gauges on the registry. They are filled from Redis at each scrape (one read shared by all of
 * them), so any API process shows every monitor whichever worker ran it, and a deleted monitor's series go.
 */
export function registerMonitorMetrics(registry: Registry, store: MonitorStore): void {
  let refreshing: Promise<void> | undefined;
  const refresh = () => {
    refreshing ??= fill().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };
  const collect = async () => {
    await refresh();
  };
  const success = new Gauge({
    name: 'probe_success',
    help: 'Whether the last run of the monitor found the site working (verdict cause ok).',
    labelNames,
    registers: [registry],
    collect,
  });
  const duration = new Gauge({
    name: 'probe_duration_seconds',
    help: 'How long the last run of the monitor took.',
    labelNames,
    registers: [registry],
    collect,
  });
  const phaseDuration = new Gauge({
    name: 'probe_http_duration_seconds',
    help: 'Duration of each phase of the last run (resolve, connect, tls, processing, transfer).',
    labelNames: [...labelNames, 'phase'],
    registers: [registry],
    collect,
  });
  const statusCode = new Gauge({
    name: 'probe_http_status_code',
    help: 'HTTP status of the last run’s final response (0 when none came).',
    labelNames,
    registers: [registry],
    collect,
  });
  const state = new Gauge({
    name: 'reach_monitor_state',
    help: 'The monitor’s confirmed state: 1 for the current one.',
    labelNames: ['monitor', 'monitor_id', 'state'],
    registers: [registry],
    collect,
  });

  const certificateExpiry = new Gauge({
    name: 'probe_ssl_earliest_cert_expiry',
    help: 'When the site’s TLS certificate expires (notAfter), in seconds since the epoch, as the last run that saw it.',
    labelNames: ['monitor', 'monitor_id'],
    registers: [registry],
    collect,
  });
  const certificateDaysLeft = new Gauge({
    name: 'reach_monitor_certificate_days_left',
    help: 'Whole days before the site’s TLS certificate expires (negative once expired).',
    labelNames: ['monitor', 'monitor_id'],
    registers: [registry],
    collect,
  });

  async function fill(): Promise<void> {
    let monitors: Awaited<ReturnType<MonitorStore['listMonitors']>>;
    let statuses: Awaited<ReturnType<MonitorStore['getStatuses']>>;
    try {
      [monitors, statuses] = await Promise.all([store.listMonitors(), store.getStatuses()]);
    } catch {
      return; // Redis away: /readyz says so; the gauges keep their last values.
    }
    const gauges = [
      success,
      duration,
      phaseDuration,
      statusCode,
      state,
      certificateExpiry,
      certificateDaysLeft,
    ];
    for (const gauge of gauges) gauge.reset();
    const nowMs = Date.now();
    for (const monitor of monitors) {
      const status = statuses.get(monitor.id);
      const current = status?.state ?? 'pending';
      for (const value of monitorStateValues) {
        state.set({ monitor: monitor.name, monitor_id: monitor.id, state: value }, value === current ? 1 : 0);
      }
      const last = status?.lastRun;
      if (!last) continue;
      if (last.certificateNotAfter) {
        const identity = { monitor: monitor.name, monitor_id: monitor.id };
        certificateExpiry.set(identity, Date.parse(last.certificateNotAfter) / 1000);
        certificateDaysLeft.set(identity, daysLeftOf(last.certificateNotAfter, nowMs));
      }
      const labels = { monitor: monitor.name, monitor_id: monitor.id, cause: last.cause };
      success.set(labels, last.cause === 'ok' ? 1 : 0);
      duration.set(labels, last.durationMs / 1000);
      statusCode.set(labels, last.status ?? 0);
      for (const phase of phases) {
        const ms = last.phasesMs[phase];
        if (ms !== undefined) phaseDuration.set({ ...labels, phase }, ms / 1000);
      }
    }
  }
}
