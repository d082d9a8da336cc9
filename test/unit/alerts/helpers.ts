import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ParseResult } from '../../../src/integrations/alerts/types.js';

export function loadFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures', name), 'utf8')) as Record<string, unknown>;
}

/** A deep copy to mutate per test. */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export function reasonOf(r: ParseResult): string {
  if (r.ok) throw new Error(`expected a refusal, got ${r.alerts.length} alerts`);
  expect(r.reason).not.toContain('\n');
  return r.reason;
}

export function alertsOf(r: ParseResult) {
  if (!r.ok) throw new Error(`expected success, got: ${r.reason}`);
  return r.alerts;
}
