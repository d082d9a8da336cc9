import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/steps/parse/logs.js';

// The secrets issue 7 names, in the shapes they take in logs, env dumps, ini files and JSON.
const CASES: { line: string; secret: string; keep: string }[] = [
  { line: 'GET /v1 key=AKIAZ7TRIAGETESTKEY1 region=eu-west-1', secret: 'AKIAZ7TRIAGETESTKEY1', keep: 'region=eu-west-1' },
  { line: 'env AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYTRIAGEKEY1 AWS_REGION=eu-west-1', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYTRIAGEKEY1', keep: 'AWS_REGION=eu-west-1' },
  { line: 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYTRIAGEKEY1', secret: 'wJalrXUtnFEMI', keep: 'aws_secret_access_key' },
  { line: '{"AccessKeyId":"ASIAZ7TRIAGETESTKEY2","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYTRIAGEKEY2"}', secret: 'bPxRfiCYTRIAGEKEY2', keep: 'SecretAccessKey' },
  { line: 'upstream call Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.dHJpYWdl.c2VjcmV0 status=401', secret: 'eyJhbGciOiJIUzI1NiJ9', keep: 'status=401' },
  { line: 'curl -H "authorization: bearer abcdef0123456789abcdef" https://api', secret: 'abcdef0123456789abcdef', keep: 'https://api' },
  { line: 'db: dial postgres://app:hunter2@db.internal:5432/orders failed', secret: 'hunter2', keep: 'db.internal:5432/orders' },
  { line: 'connect mysql://root:p%40ss-w0rd@10.0.0.5/shop', secret: 'p%40ss-w0rd', keep: '10.0.0.5/shop' },
  { line: 'login user=bob password=Tr1ageS3cret! ok', secret: 'Tr1ageS3cret', keep: 'user=bob' },
  { line: '{"user":"bob","password":"s3cr3t-json","ok":true}', secret: 's3cr3t-json', keep: '"ok":true' },
];

describe('redactSecrets: the secrets of issue 7', () => {
  for (const c of CASES) {
    it(`removes ${c.secret.slice(0, 12)}… and keeps the rest`, () => {
      const out = redactSecrets(c.line);
      expect(out).not.toContain(c.secret);
      expect(out).toContain('[REDACTED]');
      expect(out).toContain(c.keep);
      expect(redactSecrets(out)).toBe(out);
    });
  }

  it('leaves lines without secrets alone', () => {
    for (const line of ['GET /checkout 200 12ms', 'access_key_id rotation scheduled', 'token bucket refilled: 40/s']) expect(redactSecrets(line)).toBe(line);
  });
});
