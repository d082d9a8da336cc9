import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The service's Prometheus metrics, one registry per process. */
export class Metrics {
  readonly registry = new Registry();
  readonly webhookRequests = new Counter({ name: 'triage_webhook_requests_total', help: 'Webhook requests by source and result.', labelNames: ['source', 'result'] as const, registers: [this.registry] });
  readonly alerts = new Counter({ name: 'triage_alerts_total', help: 'Alerts received by what became of them.', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly investigations = new Counter({ name: 'triage_investigations_total', help: 'Investigations by outcome.', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly stepDuration = new Histogram({
    name: 'triage_step_duration_seconds',
    help: 'Duration of runbook steps, sampling interval excluded.',
    labelNames: ['step', 'status'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor(collectors: { queueDepth?: () => Promise<number>; incidentsByStatus?: () => Promise<Record<string, number>> } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'triage_' });
    if (collectors.queueDepth) {
      const depth = collectors.queueDepth;
      new Gauge({
        name: 'triage_queue_depth',
        help: 'Investigations waiting or running.',
        registers: [this.registry],
        async collect() {
          this.set(await depth().catch(() => NaN));
        },
      });
    }
    if (collectors.incidentsByStatus) {
      const by = collectors.incidentsByStatus;
      new Gauge({
        name: 'triage_incidents',
        help: 'Incidents by status (newest 1000).',
        labelNames: ['status'] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const [status, n] of Object.entries(await by().catch(() => ({})))) this.set({ status }, n);
        },
      });
    }
  }
}
