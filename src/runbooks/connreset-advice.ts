import type { Facts } from '../core/facts.js';
import type { DiagnosisResult } from '../engine/diagnosis.js';
import type { HypothesisId } from '../engine/report.js';
import { leakGroup, poolState } from './connreset-rules.js';

/** The pool series to alert on, in the names the service's own pool library exports. */
const POOL_SERIES: Record<string, string> = {
  go_sql: 'go_sql_wait_count_total, go_sql_in_use_connections / go_sql_max_open_connections',
  expvar: 'DBStats WaitCount and InUse / MaxOpenConnections (export them with client_golang\'s DBStats collector)',
  hikaricp: 'hikaricp_connections_pending, hikaricp_connections_active / hikaricp_connections_max',
  'node-postgres': "the pool's waitingCount and totalCount against its max",
  sqlalchemy: 'checked-out connections against pool_size + max_overflow, and checkout waits',
  pgbouncer: 'cl_waiting and sv_active against the pool size (SHOW POOLS)',
  pg_stat_activity: "the application's pool waiters and in-use vs max (export them from the service)",
};

/** One recommendation: what kind of step it is, and the text with this incident's numbers. */
export interface Recommendation {
  kind: 'stop-loss' | 'fix' | 'monitoring' | 'next-check';
  text: string;
}

const STOP_LOSS_KEEP_SCENE =
  'Stop the loss: restart the affected instances — but keep one or two of them out of traffic (quarantine) with their state intact, for diagnosis; a restart destroys the evidence.';

/** The write-up's lessons, made specific to the root cause and the measured numbers. Pure. */
export function recommend(d: DiagnosisResult, f: Facts): Recommendation[] {
  const root: HypothesisId | undefined = d.rootCause?.id;
  const pool = f.pool?.stats;
  const fds = f.fds;
  const out: Recommendation[] = [];
  const monitoring = (what: string) => out.push({ kind: 'monitoring', text: what });
  switch (root) {
    case 'db-pool-saturation': {
      out.push({ kind: 'stop-loss', text: STOP_LOSS_KEEP_SCENE });
      const max = pool?.maxOpen;
      out.push({
        kind: 'fix',
        text: `Raise the pool's maximum open connections${max ? ` (now ${max})` : ''} to what the traffic needs — first check the database's max_connections headroom across all instances (instances × pool max must stay below it).`,
      });
      out.push({ kind: 'fix', text: 'Bound the wait for a connection: give every request a deadline (context/time-out) so a saturated pool fails fast instead of holding sockets and descriptors.' });
      if (fds?.softLimit) out.push({ kind: 'fix', text: `Raise nofile (now ${fds.softLimit}) so a backlog of waiting requests cannot starve the pool of descriptors for new DB connections.` });
      monitoring(`Monitor and alert on pool waiters and in-use vs max (${POOL_SERIES[pool?.format ?? ''] ?? 'waiting requests, in use vs max'}), descriptor usage (process_open_fds / process_max_fds), and per-request latency in the access log; keep logs 7 days.`);
      break;
    }
    case 'handler-blocked': {
      out.push({ kind: 'stop-loss', text: STOP_LOSS_KEEP_SCENE });
      const state = poolState(f);
      out.push({
        kind: 'next-check',
        text: state?.room
          ? 'The DB pool has room: take a thread/goroutine dump of a quarantined instance and see what the handlers wait on (downstream calls, locks); check downstream latency.'
          : state
            ? `The DB pool is only partly measured (not measured: ${state.unmeasured.join(', ') || 'whether requests wait'}): export its maximum and waiters, check downstream latency, and take a thread/goroutine dump of a quarantined instance.`
            : 'Measure what the handlers wait on: expose the DB pool statistics (in use, max, waiters), check downstream latency, and take a thread/goroutine dump of a quarantined instance.',
      });
      out.push({ kind: 'fix', text: 'Give every outgoing call and every request a deadline so a slow dependency cannot hold sockets and descriptors indefinitely.' });
      monitoring('Monitor per-request latency, downstream call latency and error rates, descriptor usage and CLOSE_WAIT counts; keep logs 7 days.');
      break;
    }
    case 'fd-leak': {
      out.push({ kind: 'stop-loss', text: STOP_LOSS_KEEP_SCENE });
      const g = leakGroup(f);
      out.push({
        kind: 'fix',
        text: `Find and close the leaked descriptors${g ? ` (${g.count}× ${g.pattern}${g.distinct > 1 ? `, ${g.distinct} files` : ''})` : ''}: every open needs a close on every path, including errors.`,
      });
      monitoring('Alert on descriptor usage (process_open_fds / process_max_fds) and its growth rate.');
      break;
    }
    case 'close-wait-pileup':
    case 'fd-exhaustion':
      out.push({ kind: 'stop-loss', text: STOP_LOSS_KEEP_SCENE });
      out.push({ kind: 'next-check', text: 'Find why handlers do not finish: pool statistics, downstream latency, a thread/goroutine dump of a quarantined instance.' });
      if (fds?.softLimit) out.push({ kind: 'fix', text: `Raise nofile (now ${fds.softLimit}) only after the pile-up's cause is fixed; it buys time, not a cure.` });
      monitoring('Monitor descriptor usage and CLOSE_WAIT counts per instance.');
      break;
    case 'listen-backlog-overflow': {
      const l = f.tcp?.listener;
      out.push({ kind: 'stop-loss', text: 'Take the instance out of traffic or add capacity; a restart helps only if accepting is stuck.' });
      out.push({ kind: 'fix', text: `Find why the process accepts slowly (a blocked accept loop, CPU starvation); raise the backlog${l ? ` (now ${l.backlog})` : ''} and net.core.somaxconn only as headroom.` });
      monitoring("Alert on the listener's accept queue against its backlog (ss -ltn: Recv-Q / Send-Q), with the host-wide TcpExt ListenOverflows / ListenDrops rates beside it.");
      break;
    }
    case 'process-down':
      out.push({ kind: 'stop-loss', text: 'Start the service again (restart), then confirm it listens and answers the probe.' });
      out.push({ kind: 'next-check', text: 'Read why it exited: the service manager status, the last log lines, the kernel log (OOM killer).' });
      monitoring('Alert on the instance\'s health check and process restarts.');
      break;
    case 'host-fd-exhaustion':
      out.push({ kind: 'stop-loss', text: 'Find and restart the process holding the host\'s file handles; raise fs.file-max as headroom.' });
      monitoring('Alert on /proc/sys/fs/file-nr against file-max per host.');
      break;
    case 'conntrack-full':
      out.push({ kind: 'stop-loss', text: 'Raise net.netfilter.nf_conntrack_max or shorten conntrack time-outs; exclude the service port from tracking (NOTRACK) if it needs no NAT.' });
      monitoring('Alert on nf_conntrack_count against nf_conntrack_max.');
      break;
    case 'no-fault-found':
      out.push({ kind: 'next-check', text: 'Probe from the clients\' network and check what sits between them (load balancer, proxy, NAT) — the instance itself looks healthy.' });
      break;
    default:
      out.push({ kind: 'next-check', text: 'No hypothesis explains the symptom with what was measured: fix the failed steps listed in the report and run again.' });
  }
  return out;
}
