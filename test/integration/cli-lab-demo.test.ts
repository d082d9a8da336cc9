import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/engine/report.js';
import { freePort } from '../helpers/ports.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

describe('triage lab', () => {
  it('narrates the reproduction and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'lab', '--scenario', 'db-pool', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      for (let i = 0; i < 300 && !/failure reproduced/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/failure reproduced/);
      expect(out).toMatch(/nofile 128, pool max 2/);
      expect(out).toMatch(/fds \d+\/128, CLOSE_WAIT \d+/);
      const pid = Number(/service pid (\d+)/.exec(out)?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(existsSync(`/proc/${pid}`)).toBe(true);
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('hung'), 8000))]);
      expect(code).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(`/proc/${pid}`), 'the lab service is gone').toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('triage demo', () => {
  it('reproduces the incident and reports its findings, in one command', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, 'demo', '--json'], { timeout: 90_000, maxBuffer: 32 * 1024 * 1024 }, (err, so, se) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: so, stderr: se }),
      ),
    );
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/demo: reproduced: \d+\/128 descriptors/);
    expect(stderr).toMatch(/demo: stopping the lab/);
    const r = JSON.parse(stdout) as Report;
    expect(r.target.via).toBe('local');
    expect(r.facts.fds?.open).toBeGreaterThanOrEqual(126);
    expect(r.facts.tcp?.closeWait.total).toBeGreaterThan(10);
    expect(r.facts.pool?.stats?.inUse).toBe(2);
    expect(r.findings.filter((f) => f.severity === 'critical').map((f) => f.id)).toEqual(expect.arrayContaining(['fds-near-limit', 'close-wait', 'pool-saturated']));
  });
});
