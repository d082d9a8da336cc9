import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLab } from '../../src/lab/lab.js';
import { freePort } from '../helpers/ports.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

describe('triage shell', () => {
  it('holds the Slack conversation in a terminal: usage for bad input, the investigation, the diagnosis', async () => {
    const port = await freePort();
    const lab = await startLab({ scenario: 'db-pool', port });
    try {
      await lab.waitForFailure(45_000);
      const child = spawn(process.execPath, [CLI, 'shell', '--local'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      child.stdin.write('help\n');
      child.stdin.write('@triage connreset 127.0.0.1:99999\n');
      child.stdin.write('@triage connreset $(reboot):2133\n');
      child.stdin.write(`@triage connreset 127.0.0.1:${port}\n`);
      child.stdin.write('status\n');
      child.stdin.end();
      const code = await Promise.race([exit, new Promise<string>((r) => setTimeout(() => r('hung'), 60_000))]);
      expect(code, out).toBe(0);
      expect(out).toMatch(/triage \(only you\)> .*connreset HOST:PORT/s);
      expect(out).toMatch(/port 99999 is out of range/);
      expect(out).toMatch(/is not a host name/);
      expect(out).toMatch(new RegExp(`Investigating 127\\.0\\.0\\.1:${port} — runbook connreset`));
      expect(out).toMatch(/✔ fds \d+ ms/);
      expect(out).toMatch(/db-pool-saturation → handler-blocked → close-wait-pileup → fd-exhaustion → reset/);
      expect(out).toMatch(/Open incidents:\n.*inc-.* diagnosed connreset 127\.0\.0\.1:\d+/);
    } finally {
      await lab.stop();
    }
  });
});
