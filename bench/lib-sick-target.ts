// The big sick process of benchmark 2, run as its own process (under prlimit):
//
//   node --import tsx bench/lib-sick-target.ts --port P --dir D --files N
//
// It opens N descriptors on a file in D and never closes them (a leak), and listens on 127.0.0.1:P
// with half-open sockets allowed: a client that hangs up without a request leaves its socket in
// CLOSE_WAIT for good (the handler never closes it). A request gets a 200, so the bot's probe
// answers. Prints `{"event":"ready",...}` on stdout once listening.

import { openSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { argNumber, argString, parseArgs } from '../src/lab/args.js';

const args = parseArgs(process.argv.slice(2));
const port = argNumber(args, 'port');
const dir = argString(args, 'dir');
const files = argNumber(args, 'files');

const template = join(dir, 'template.html');
writeFileSync(template, '<html>{{body}}</html>\n');
const leaked: number[] = [];
for (let i = 0; i < files; i++) leaked.push(openSync(template, 'r'));

const held = new Set<net.Socket>();
const server = net.createServer({ allowHalfOpen: true }, (sock) => {
  held.add(sock);
  sock.on('error', () => undefined);
  sock.once('data', () => {
    sock.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n');
    setTimeout(() => {
      held.delete(sock);
      sock.destroy();
    }, 200).unref();
  });
  // 'end' without a request: the bug. The socket is never closed and stays in CLOSE_WAIT.
});
server.on('error', (err) => {
  process.stderr.write(`sick target: ${err.message}\n`);
  process.exit(1);
});
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(JSON.stringify({ event: 'ready', pid: process.pid, port, leaked: leaked.length }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {
  process.stdout.write(JSON.stringify({ event: 'held', sockets: held.size }) + '\n');
}, 500);
