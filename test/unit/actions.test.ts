import { describe, expect, it } from 'vitest';
import { ServiceSchema } from '../../src/config.js';
import { actionFor, actionHash, describeAction, proposePlan, renderCommand, SafetySchema } from '../../src/engine/actions.js';

const service = {
  name: 'checkout',
  config: ServiceSchema.parse({
    port: 2133,
    instances: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'],
    actions: { restart: ['sudo', '-n', 'systemctl', 'restart', 'checkout@{port}'], quarantine: ['/usr/local/bin/lb-drain', '{service}', '{address}:{port}'] },
  }),
};
const inst = (i: number) => ({ host: `h${i}`, address: `10.0.0.${i}`, port: 2133 });
const safety = SafetySchema.parse({});

describe('actions', () => {
  it('fills templates with validated values, one argv element each', () => {
    expect(renderCommand(['lb-drain', '{service}', '{address}:{port}'], { service: 'checkout', address: '10.0.0.35', port: '2133' })).toEqual(['lb-drain', 'checkout', '10.0.0.35:2133']);
    for (const bad of ['a;b', '$(id)', '`id`', '-rf', 'a b', '../x', 'x\ny']) {
      expect(() => renderCommand(['x', '{host}'], { host: bad })).toThrow(/not allowed/);
    }
    expect(() => renderCommand(['x', '{pid}'], {})).toThrow(/no value/);
  });

  it('binds an approval to incident, action, target and parameters', () => {
    const a = actionFor('restart', 'inc-a-1', service, inst(1));
    expect(a.argv).toEqual(['sudo', '-n', 'systemctl', 'restart', 'checkout@2133']);
    expect(actionHash(a)).toBe(actionHash({ ...a }));
    for (const other of [{ ...a, incidentId: 'inc-a-2' }, { ...a, kind: 'quarantine' as const }, { ...a, host: 'h2' }, { ...a, port: 2134 }, { ...a, argv: [...a.argv, '--force'] }]) {
      expect(actionHash(other)).not.toBe(actionHash(a));
    }
    expect(describeAction(a)).toBe('restart checkout on h1:2133: sudo -n systemctl restart checkout@2133');
  });

  it('plans the write-up: keep up to K for evidence, restart the others, within the share, the budget and the breaker', () => {
    const one = proposePlan({ incidentId: 'i', service, affected: [inst(1)], safety, restartsThisHour: 0, failuresThisHour: 0 });
    expect(one.actions.map((a) => `${a.kind}:${a.host}`)).toEqual(['restart:h1']);
    const three = proposePlan({ incidentId: 'i', service, affected: [inst(1), inst(2), inst(3)], safety, restartsThisHour: 0, failuresThisHour: 0 });
    expect(three.actions.map((a) => `${a.kind}:${a.host}`)).toEqual(['quarantine:h1', 'restart:h2', 'restart:h3']);
    const six = proposePlan({ incidentId: 'i', service, affected: [1, 2, 3, 4, 5, 6].map(inst), safety, restartsThisHour: 0, failuresThisHour: 0 });
    expect(six.actions).toHaveLength(3);
    expect(six.refused.map((r) => r.reason)).toEqual(Array(3).fill('would act on more than 50% of checkout\'s 6 instances at once'));
    const spent = proposePlan({ incidentId: 'i', service, affected: [inst(1)], safety, restartsThisHour: 4, failuresThisHour: 0 });
    expect(spent.actions).toEqual([]);
    expect(spent.refused[0]?.reason).toBe('restart budget of 4 per hour for checkout is used up');
    const broken = proposePlan({ incidentId: 'i', service, affected: [inst(1)], safety, restartsThisHour: 0, failuresThisHour: 3 });
    expect(broken.refused[0]?.reason).toMatch(/circuit breaker open: 3 failed actions/);
  });
});
