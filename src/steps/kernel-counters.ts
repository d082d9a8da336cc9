import { z } from 'zod';
import { TriageError } from '../core/errors.js';
import type { Finding, KernelCounters } from '../core/facts.js';
import { defineStep } from '../engine/step.js';
import { parseSnmpTables, parseTailSections } from './parse/proc.js';

const Input = z.object({});
type Input = z.infer<typeof Input>;

/** conntrack usage at which the table is reported as (nearly) full. */
export const CONNTRACK_WARN_RATIO = 0.8;

export const KERNEL_FILES = [
  '/proc/net/netstat',
  '/proc/net/snmp',
  '/proc/sys/net/netfilter/nf_conntrack_count',
  '/proc/sys/net/netfilter/nf_conntrack_max',
] as const;

type CounterName = keyof NonNullable<KernelCounters['delta']>;

/** Pure: the counters in one `tail -n +1` of KERNEL_FILES. */
export function parseKernelCounters(text: string): Omit<KernelCounters, 'delta' | 'intervalMs'> | null {
  const sections = parseTailSections(text);
  const get = (path: string) => sections.find((s) => s.path === path)?.content ?? '';
  const tables = { ...parseSnmpTables(get('/proc/net/netstat')), ...parseSnmpTables(get('/proc/net/snmp')) };
  const ext = tables.TcpExt;
  const tcp = tables.Tcp;
  if (!ext || !tcp) return null;
  const count = Number(get('/proc/sys/net/netfilter/nf_conntrack_count').trim());
  const max = Number(get('/proc/sys/net/netfilter/nf_conntrack_max').trim());
  return {
    listenOverflows: ext.ListenOverflows ?? 0,
    listenDrops: ext.ListenDrops ?? 0,
    tcpAbortOnClose: ext.TCPAbortOnClose ?? 0,
    tcpAbortOnData: ext.TCPAbortOnData ?? 0,
    outRsts: tcp.OutRsts ?? 0,
    estabResets: tcp.EstabResets ?? 0,
    conntrack: get('/proc/sys/net/netfilter/nf_conntrack_max') !== '' && Number.isFinite(count) && max > 0 ? { count, max } : null,
  };
}

/** TCP counters of the host's network namespace, as rates between samples, and conntrack usage. */
export const kernelCountersStep = defineStep<Input, string>({
  id: 'kernel-counters',
  description: 'kernel TCP counters and conntrack',
  input: Input,
  sampled: true,
  async collect(ctx) {
    // conntrack files are absent without nf_conntrack: tail reports them and exits 1, the rest is there.
    const res = await ctx.exec.run(['tail', '-n', '+1', '--', ...KERNEL_FILES], { signal: ctx.signal, timeoutMs: ctx.commandTimeoutMs });
    if (!res.stdout.includes('TcpExt:')) throw new TriageError('command_failed', `cannot read /proc/net/netstat: ${res.stderr.trim().split('\n')[0] ?? 'no output'}`);
    return res.stdout;
  },
  analyze(samples) {
    const last = samples[samples.length - 1];
    const now = last ? parseKernelCounters(last.raw) : null;
    if (!last || !now) throw new TriageError('parse_failed', 'no TcpExt/Tcp counters in /proc/net/netstat and /proc/net/snmp');
    const kernel: KernelCounters = { ...now };
    const first = samples[0];
    const before = first && samples.length > 1 ? parseKernelCounters(first.raw) : null;
    if (first && before) {
      const names: CounterName[] = ['listenOverflows', 'listenDrops', 'tcpAbortOnClose', 'tcpAbortOnData', 'outRsts', 'estabResets'];
      kernel.delta = Object.fromEntries(names.map((n) => [n, now[n] - before[n]]));
      kernel.intervalMs = last.at - first.at;
    }
    const findings: Finding[] = [];
    const d = kernel.delta;
    const over = kernel.intervalMs !== undefined ? `over ${(kernel.intervalMs / 1000).toFixed(1)} s` : '';
    if (d && (d.listenOverflows ?? 0) > 0) {
      findings.push({
        id: 'listen-overflows',
        step: 'kernel-counters',
        severity: 'warning',
        title: `host-wide: ListenOverflows +${d.listenOverflows} ${over}`,
        detail: "some listener on this host overflowed its accept queue (the counter is the host's, not this port's): the tcp-states step says whether it was this one",
      });
    }
    if (kernel.conntrack && kernel.conntrack.count / kernel.conntrack.max >= CONNTRACK_WARN_RATIO) {
      findings.push({
        id: 'conntrack-near-max',
        step: 'kernel-counters',
        severity: 'critical',
        title: `host-wide: conntrack ${kernel.conntrack.count}/${kernel.conntrack.max}`,
        detail: "the host's connection tracking table is nearly full: new connections to any service on it may be dropped",
      });
    }
    findings.push({
      id: 'kernel-counters',
      step: 'kernel-counters',
      severity: 'info',
      title: 'kernel TCP counters (host-wide)',
      detail: d
        ? `${over}: ListenOverflows +${d.listenOverflows}, ListenDrops +${d.listenDrops}, OutRsts +${d.outRsts}, EstabResets +${d.estabResets}, TCPAbortOnData +${d.tcpAbortOnData}, TCPAbortOnClose +${d.tcpAbortOnClose}` +
          (kernel.conntrack ? `; conntrack ${Math.round((kernel.conntrack.count / kernel.conntrack.max) * 100)}% of max` : '; conntrack not loaded')
        : `ListenOverflows ${kernel.listenOverflows}, OutRsts ${kernel.outRsts} (one sample: no rates)`,
    });
    return { facts: { kernel }, findings };
  },
});
