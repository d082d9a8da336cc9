import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '../../fixtures');

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** Written by test/fixtures/capture/capture.sh: how the captured processes were set up. */
export interface CaptureMeta {
  serverPid: number;
  serverPort: number;
  clients: number;
  clientsEnded: number;
  clientsEndedWithData: number;
  serverRequestBytes: number;
  noAcceptPort: number;
  noAcceptParentPid: number;
  noAcceptChildPid: number;
  noAcceptBacklog: number;
  noAcceptClients: number;
  noAcceptClosed: number;
  noAcceptClosedWithData: number;
  noAcceptRequestBytes: number;
  miscPort: number;
  miscTimeWait: number;
  numericUidPid: number;
  numericUid: number;
}

export const meta = JSON.parse(fixture('capture-meta.json')) as CaptureMeta;
