/**
 * The Node runtime of the real-stack lab: dist/lab/stacks/node-service.js (node:http + pg.Pool +
 * prom-client), built by `npm run build` with the rest of the project.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StackRuntime, StackServiceSpec } from './types.js';

/** The repository root: this module is src/lab/stacks/node.ts or dist/lab/stacks/node.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = path.join('lab', 'stacks', 'node-service.js');

export const nodeRuntime: StackRuntime = {
  id: 'node',
  exports: ['none', 'node-exporter', 'node-prom-client'],
  // the service runs on the Node that runs triage; its npm packages come from node_modules
  debianPackages: [],

  async build(): Promise<string> {
    const dist = path.join(ROOT, 'dist');
    const script = path.join(dist, SCRIPT);
    let built: fs.Stats;
    try {
      built = fs.statSync(script);
    } catch {
      throw new Error(`${script} is missing: run \`npm run build\` first`);
    }
    const src = path.join(ROOT, 'src', 'lab', 'stacks', 'node-service.ts');
    const srcStat = fs.statSync(src, { throwIfNoEntry: false });
    if (srcStat && srcStat.mtimeMs > built.mtimeMs + 1000) {
      throw new Error(`${script} is older than its source: run \`npm run build\` first`);
    }
    return dist;
  },

  command(spec: StackServiceSpec, buildDir: string) {
    return {
      argv: [
        process.execPath,
        path.join(buildDir, SCRIPT),
        '--port', String(spec.port),
        '--host', spec.host,
        '--dsn', spec.dsn,
        '--pool-max', String(spec.poolMax),
        '--query-ms', String(spec.queryMs),
        '--behaviour', spec.behaviour,
        '--pool-export', spec.poolExport,
        '--log-dir', spec.logDir,
      ],
    };
  },
};
