/**
 * Parsers for `ss` (iproute2) TCP socket listings. Pure functions: no I/O, never throw; lines that do not
 * look like a socket row are skipped.
 *
 * Accepted inputs:
 * - `ss -Htane` / `ss -Htan` (State Recv-Q Send-Q Local Peer [extras]), optionally with a `( sport = :N )` filter;
 * - `ss -Htan state close-wait ...`: with a single `state` filter ss omits the State column; pass
 *   `impliedState` to name it (otherwise such rows get state `UNKNOWN`);
 * - `ss -Hltnp` rows (the `users:((...))` extra is ignored here, see `parseListenerPids` in proc.ts).
 *
 * Facts checked against iproute2 6.1 on Linux 6.x (see test/fixtures/):
 * - `-e` prints `ino:N` for every socket, but `uid:N` only when the uid is non-zero, so a row with `ino:`
 *   and no `uid:` belongs to uid 0 and is returned as uid 0. Without `-e` inode and uid are null.
 * - Sockets still in a listener's accept queue (ESTAB or CLOSE-WAIT, never accepted, so no descriptor)
 *   show `ino:0`; so do TIME-WAIT sockets. inode 0 is returned as 0, not null.
 * - A socket bound to a device prints the scope after the address: `127.0.0.1%lo:2136`,
 *   `[fe80::1]%eth0:2137`; the scope is returned separately in `scope`, not in `address`.
 * - A CLOSE-WAIT socket whose owner never read shows Recv-Q = unread bytes + 1 (the FIN).
 */

export interface SsSocket {
  state: string;
  recvQ: number;
  sendQ: number;
  local: { address: string; port: number; scope?: string };
  peer: { address: string; port: number | null; scope?: string };
  inode: number | null;
  uid: number | null;
}

const INT_RE = /^\d{1,15}$/;
const STATE_RE = /^[A-Z][A-Z0-9-]{1,15}$/;
const MAX_LINES = 500_000;

/** Parses `host:port` as ss prints it. Returns null when it is not an address. */
export function parseSsAddress(token: string): { address: string; port: number | null; scope?: string } | null {
  if (token.length === 0 || token.length > 200) return null;
  const colon = token.lastIndexOf(':');
  if (colon <= 0) return null;
  const portText = token.slice(colon + 1);
  let hostPart = token.slice(0, colon);
  let port: number | null;
  if (portText === '*') port = null;
  else if (INT_RE.test(portText) && Number(portText) <= 65535) port = Number(portText);
  else return null;

  let scope: string | undefined;
  let address: string;
  if (hostPart.startsWith('[')) {
    const close = hostPart.indexOf(']');
    if (close < 0) return null;
    address = hostPart.slice(1, close);
    const rest = hostPart.slice(close + 1);
    if (rest.startsWith('%') && rest.length > 1) scope = rest.slice(1);
    else if (rest.length > 0) return null;
  } else {
    const pct = hostPart.indexOf('%');
    if (pct >= 0) {
      scope = hostPart.slice(pct + 1) || undefined;
      hostPart = hostPart.slice(0, pct);
    }
    address = hostPart;
  }
  // Addresses are IPv4, IPv6 (hex and colons, maybe a dotted v4 tail) or `*`.
  if (!/^(\*|[0-9A-Fa-f:.]+)$/.test(address)) return null;
  const out: { address: string; port: number | null; scope?: string } = { address, port };
  if (scope !== undefined) out.scope = scope;
  return out;
}

function parseLine(line: string, impliedState: string | undefined): SsSocket | null {
  const tokens = line.trim().split(/\s+/);
  if (tokens.length < 4) return null;
  let i = 0;
  let state: string;
  const first = tokens[0] ?? '';
  if (INT_RE.test(first)) {
    state = impliedState ?? 'UNKNOWN';
  } else if (STATE_RE.test(first)) {
    state = first;
    i = 1;
  } else {
    return null;
  }
  const rq = tokens[i];
  const sq = tokens[i + 1];
  const lt = tokens[i + 2];
  const pt = tokens[i + 3];
  if (rq === undefined || sq === undefined || lt === undefined || pt === undefined) return null;
  if (!INT_RE.test(rq) || !INT_RE.test(sq)) return null;
  const local = parseSsAddress(lt);
  const peer = parseSsAddress(pt);
  if (!local || !peer || local.port === null) return null;

  let inode: number | null = null;
  let uid: number | null = null;
  for (let k = i + 4; k < tokens.length; k++) {
    const t = tokens[k] ?? '';
    if (t.startsWith('ino:') && INT_RE.test(t.slice(4))) inode = Number(t.slice(4));
    else if (t.startsWith('uid:') && INT_RE.test(t.slice(4))) uid = Number(t.slice(4));
  }
  // ss -e omits `uid:` when the uid is 0.
  if (inode !== null && uid === null) uid = 0;

  const localEp: SsSocket['local'] = { address: local.address, port: local.port };
  if (local.scope !== undefined) localEp.scope = local.scope;
  const peerEp: SsSocket['peer'] = { address: peer.address, port: peer.port };
  if (peer.scope !== undefined) peerEp.scope = peer.scope;
  return { state, recvQ: Number(rq), sendQ: Number(sq), local: localEp, peer: peerEp, inode, uid };
}

/**
 * Parses `ss -Htan[e]` output. `impliedState` names the state for output produced with a single
 * `state X` filter, where ss drops the State column (e.g. `'CLOSE-WAIT'`).
 */
export function parseSs(text: string, impliedState?: string): SsSocket[] {
  const out: SsSocket[] = [];
  if (typeof text !== 'string' || text.length === 0) return out;
  let start = 0;
  let n = 0;
  while (start <= text.length && n < MAX_LINES) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    n++;
    if (line.length === 0 || line.length > 65_536) continue;
    const s = parseLine(line, impliedState);
    if (s) out.push(s);
  }
  return out;
}

export interface SsSummary {
  byState: Record<string, number>;
  closeWait: { total: number; ownedByPid: number | null; notAccepted: number };
  listener: { queue: number; backlog: number } | null;
}

/**
 * Summarizes the sockets whose LOCAL port is `port`. For LISTEN sockets Recv-Q is the current accept
 * queue and Send-Q the backlog; several listeners (v4 + v6) have their queues summed and the largest
 * backlog taken. `notAccepted` counts CLOSE-WAIT sockets with inode 0 (only meaningful with `ss -e`;
 * without it every inode is null and the count is 0). `ownedByPid` counts CLOSE-WAIT sockets whose inode
 * is in `ownedInodes` (the process's `socket:[N]` descriptors), null when that set is not given.
 */
export function summarizeSs(sockets: SsSocket[], port: number, ownedInodes?: ReadonlySet<number>): SsSummary {
  const byState: Record<string, number> = {};
  let cwTotal = 0;
  let cwOwned = 0;
  let cwNotAccepted = 0;
  let listener: { queue: number; backlog: number } | null = null;
  for (const s of Array.isArray(sockets) ? sockets : []) {
    if (!s || s.local?.port !== port) continue;
    byState[s.state] = (byState[s.state] ?? 0) + 1;
    if (s.state === 'CLOSE-WAIT') {
      cwTotal++;
      if (s.inode === 0) cwNotAccepted++;
      if (ownedInodes && s.inode !== null && s.inode !== 0 && ownedInodes.has(s.inode)) cwOwned++;
    } else if (s.state === 'LISTEN') {
      if (listener === null) listener = { queue: 0, backlog: 0 };
      listener.queue += s.recvQ;
      listener.backlog = Math.max(listener.backlog, s.sendQ);
    }
  }
  return {
    byState,
    closeWait: { total: cwTotal, ownedByPid: ownedInodes ? cwOwned : null, notAccepted: cwNotAccepted },
    listener,
  };
}
