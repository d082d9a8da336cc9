import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StepContext } from '../../src/engine/step.js';
import { LocalExecutor } from '../../src/integrations/exec/local.js';
import { startLab } from '../../src/lab/lab.js';
import { forensicsStep, renderSnapshot, type ForensicsFacts } from '../../src/steps/forensics.js';
import { freePort } from '../helpers/ports.js';

type Input = Parameters<typeof forensicsStep.collect>[0]['input'];

describe('forensics against the db-pool lab', () => {
  it('snapshots descriptors, sockets, status, limits, memory, threads and logs without disturbing the process', async () => {
    const port = await freePort();
    const lab = await startLab({ scenario: 'db-pool', port });
    try {
      await lab.waitForFailure(45_000);
      const exec = new LocalExecutor();
      const input: Input = { pid: lab.pid, port: lab.port };
      const ctx: StepContext<Input> = { input, exec, net: {} as never, signal: new AbortController().signal, commandTimeoutMs: 10_000, now: Date.now };
      const raw = await forensicsStep.collect(ctx);
      const { facts, findings } = forensicsStep.analyze([{ raw, at: Date.now() }], input);
      const f = (facts as { forensics?: ForensicsFacts }).forensics;
      expect(f).toBeDefined();
      if (!f) return;
      const byName = Object.fromEntries(f.sections.map((s) => [s.name, s]));
      for (const s of f.sections) expect(s, `${s.name}: ${s.error ?? ''}`).toMatchObject({ ok: true, truncated: false });

      expect(byName.fds?.lines).toBeGreaterThanOrEqual(120);
      expect(byName.fds?.content).toMatch(/^\d+ socket:\[\d+\]$/m);
      expect(byName.sockets?.command).toBe(`ss -Htanpe sport = :${lab.port}`);
      expect(byName.sockets?.content).toMatch(/^CLOSE-WAIT\s/m);
      expect(byName.sockets?.content).toMatch(new RegExp(`pid=${lab.pid},`));
      expect(byName.limits?.content).toMatch(new RegExp(`^Max open files\\s+${lab.nofile}\\s+${lab.nofile}\\s+files`, 'm'));
      expect(byName.status?.content).toMatch(/^VmRSS:\s+\d+ kB$/m);
      expect(byName['memory map']?.content).toMatch(/^total kB\s+\d+\s+\d+\s+\d+/m);
      const threads = byName.threads?.content ?? '';
      expect(threads).toMatch(new RegExp(`^${lab.pid}\\s+[RSD] node\\s`, 'm'));
      // Node 20 leaves its threads named `node` (later versions name them libuv-worker, V8 DefaultWorker...):
      // the main thread, V8's platform workers and libuv's pool of 4, parked on a futex.
      const rows = threads.split('\n').slice(1);
      expect(rows.length).toBeGreaterThanOrEqual(6);
      for (const row of rows) expect(row).toMatch(/^\d+\s+[RSD] \S.*\s\S+$/);
      expect(threads).toMatch(/\sfutex\w*$/m);
      const access = join(lab.logDir, 'access.log');
      expect(byName[`log ${access}`]?.lines).toBeGreaterThan(0);
      expect(Object.keys(byName)).toEqual(expect.arrayContaining([`log ${join(lab.logDir, 'app.log')}`, `log ${join(lab.logDir, 'error.log')}`]));

      const file = renderSnapshot(f);
      expect(file.filename).toMatch(new RegExp(`^forensics-${lab.pid}-\\d{8}T\\d{6}Z\\.txt$`));
      expect(file.content).toContain(`===== limits: cat -- /proc/${lab.pid}/limits =====`);
      expect(file.content).toContain(`===== log ${access}: tail -n 200 -- ${access} =====`);
      expect(findings[0]?.id).toBe('forensics-snapshot');

      // Evidence taken, the process untouched.
      expect((await lab.status()).pid).toBe(lab.pid);
      expect(() => process.kill(lab.pid, 0)).not.toThrow();
    } finally {
      await lab.stop();
    }
  }, 90_000);
});
