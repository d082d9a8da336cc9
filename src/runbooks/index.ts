import { InputError } from '../core/errors.js';
import { printable } from '../core/target.js';
import type { RunbookDefinition } from '../engine/runbook.js';
import { connreset } from './connreset.js';

export const RUNBOOKS: Readonly<Record<string, RunbookDefinition>> = { connreset };

export function getRunbook(id: string): RunbookDefinition {
  const rb = Object.hasOwn(RUNBOOKS, id) ? RUNBOOKS[id] : undefined;
  if (!rb) throw new InputError(`unknown runbook "${printable(id)}": known runbooks: ${Object.keys(RUNBOOKS).join(', ')}`, 'runbook_unknown');
  return rb;
}
