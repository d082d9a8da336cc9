import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Child processes (sshd, ssh) and process.on('exit') cleanup behave best in real processes.
    pool: 'forks',
    // Test files run in parallel, but this is a 2-core machine.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
