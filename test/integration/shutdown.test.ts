import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

async function runUntilSigterm(args: string[], ready: (out: string) => boolean) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  for (let i = 0; i < 100 && !ready(out); i++) await new Promise((r) => setTimeout(r, 100));
  expect(ready(out), out).toBe(true);
  const t0 = Date.now();
  child.kill('SIGTERM');
  const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('hung'), 8000))]);
  if (code === 'hung') child.kill('SIGKILL');
  return { code, ms: Date.now() - t0, out };
}

describe('graceful shutdown', () => {
  it('serve and worker stop on SIGTERM with exit code 0', async () => {
    const prefix = uniquePrefix('shutdown');
    const config = join(mkdtempSync(join(tmpdir(), 'triage-sd-')), 'c.yaml');
    writeFileSync(config, `redis: {url: "${REDIS_URL}", prefix: ${prefix}}\nserver: {host: 127.0.0.1, port: ${await freePort()}, shutdownTimeoutMs: 2000}\nworker: {shutdownTimeoutMs: 2000}\n`);
    try {
      const serve = await runUntilSigterm(['serve', '--config', config], (o) => o.includes('"msg":"serving"'));
      expect(serve.code, serve.out).toBe(0);
      expect(serve.out).toMatch(/"msg":"shutting down"/);
      const worker = await runUntilSigterm(['worker', '--config', config], (o) => o.includes('"msg":"worker started"'));
      expect(worker.code, worker.out).toBe(0);
      expect(worker.out).toMatch(/"msg":"shutting down"/);
    } finally {
      await cleanPrefix(prefix);
    }
  });

  it('serve refuses to start without a webhook secret it needs, with a one-line reason', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'triage-sd-')), 'c.yaml');
    writeFileSync(config, `webhooks: {alertmanager: {auth: {type: bearer, token: "env:TRIAGE_TEST_UNSET_TOKEN"}}}\n`);
    const child = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err.trim()).toBe('triage: webhooks.alertmanager.auth.token: environment variable TRIAGE_TEST_UNSET_TOKEN is not set');
  });
});
