import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');

/** Preloaded into the CLI: at exit, writes the CommonJS modules it loaded (Slack, ioredis, pg are CommonJS). */
const PRELOAD =
  'data:text/javascript,' +
  encodeURIComponent(
    "import { createRequire } from 'node:module'; import { writeFileSync } from 'node:fs'; const req = createRequire('file:///'); process.on('exit', () => writeFileSync(process.env.FOOTPRINT_FILE, JSON.stringify(Object.keys(req.cache))));",
  );

let dir: string;
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npx tsc -p tsconfig.build.json (npm test builds it)`);
  dir = mkdtempSync(join(tmpdir(), 'triage-footprint-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function loadedBy(args: string[]): Promise<string[]> {
  const file = join(dir, `loaded-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--import', PRELOAD, CLI, ...args], { timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FOOTPRINT_FILE: file } }, (err) => {
      if (!existsSync(file)) return reject(err ?? new Error('no footprint written'));
      resolve(JSON.parse(readFileSync(file, 'utf8')) as string[]);
    }),
  );
}

const SERVICE_STACK = ['/node_modules/@slack/', '/node_modules/ioredis/', '/node_modules/pg/', '/node_modules/pino/'];

describe('the CLI loads what the command needs', () => {
  it('investigate --local does not load the service stack (Slack, BullMQ/ioredis, pg, pino)', async () => {
    const port = await freePort(); // nothing listens: the report says refused
    const loaded = await loadedBy(['investigate', 'connreset', `127.0.0.1:${port}`, '--local', '--json', '--samples', '1']);
    expect(loaded.length).toBeGreaterThan(0);
    for (const pkg of SERVICE_STACK) expect(loaded.filter((p) => p.includes(pkg)), pkg).toEqual([]);
  });

});
