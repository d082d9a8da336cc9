/**
 * The lab's load generator: one fresh TCP connection per request, at a fixed rate, no keep-alive.
 *
 *   node dist/lab/loadgen.js --host H --port P --rps N --timeout-ms MS [--duration-s S] [--max-sockets N]
 *
 * A client that has no full response when its time-out passes hangs up (FIN, then close after a short
 * grace) - exactly what leaves the server's socket in CLOSE_WAIT while its handler is still blocked.
 * Prints `{"event":"start","pid":N,...}` first, then one JSON line per second on stdout with that second's outcomes:
 *   {"t":3,"sent":40,"ok":0,"reset":12,"eof":5,"timeout":28,"refused":0,"other":0,"skipped":0,"inflight":41}
 */
import net from 'node:net';
import { argNumber, argString, parseArgs } from './args.js';

/** eof: the server closed without answering (curl exit 52) */
export type Outcome = 'ok' | 'reset' | 'eof' | 'timeout' | 'refused' | 'other';

const REQUEST = 'GET /xx/checkalive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
const HANGUP_GRACE_MS = 200;

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const host = argString(args, 'host', '127.0.0.1');
  const port = argNumber(args, 'port');
  const rps = argNumber(args, 'rps');
  const timeoutMs = argNumber(args, 'timeout-ms', 1000);
  const durationS = argNumber(args, 'duration-s', 0); // 0 = until killed
  const maxSockets = argNumber(args, 'max-sockets', 2000);

  const fresh = () => ({ sent: 0, ok: 0, reset: 0, eof: 0, timeout: 0, refused: 0, other: 0, skipped: 0 });
  let counts = fresh();
  let inflight = 0;

  const fire = () => {
    if (inflight >= maxSockets) {
      counts.skipped++;
      return;
    }
    inflight++;
    counts.sent++;
    let done = false;
    let response = '';
    const sock = net.connect({ host, port });
    const settle = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      counts[o]++;
      inflight--;
    };
    const timer = setTimeout(() => {
      settle('timeout');
      // hang up like a client whose time-out passed: FIN first, close after a short grace
      sock.end();
      setTimeout(() => sock.destroy(), HANGUP_GRACE_MS);
    }, timeoutMs);
    sock.setNoDelay(true);
    sock.on('connect', () => sock.write(REQUEST));
    sock.on('data', (d: Buffer) => {
      response += d.toString('latin1');
      if (response.length > 64 * 1024) response = response.slice(0, 64 * 1024);
    });
    sock.on('end', () => {
      settle(response === '' ? 'eof' : /^HTTP\/1\.[01] 200 /.test(response) ? 'ok' : 'other');
      sock.destroy();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      settle(code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : code === 'ECONNREFUSED' ? 'refused' : 'other');
      sock.destroy();
    });
  };

  process.stdout.write(JSON.stringify({ event: 'start', pid: process.pid, host, port, rps, timeoutMs }) + '\n');
  const t0 = Date.now();
  let fired = 0;
  const tick = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) / 1000) * rps);
    while (fired < due) {
      fired++;
      fire();
    }
  }, 5);

  let second = 0;
  const report = setInterval(() => {
    second++;
    process.stdout.write(JSON.stringify({ t: second, ...counts, inflight }) + '\n');
    counts = fresh();
    if (durationS > 0 && second >= durationS) stop();
  }, 1000);

  const stop = () => {
    clearInterval(tick);
    clearInterval(report);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
