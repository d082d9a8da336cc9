export type { AlertEvent, AuthResult, ParseResult, RouteResult } from './types.js';
export { parseAlertmanager, AlertmanagerPayloadSchema, type AlertmanagerPayload } from './alertmanager.js';
export { parseGrafana, GrafanaPayloadSchema, type GrafanaPayload } from './grafana.js';
export { parseGeneric, getPath, normaliseStatus, type GenericMapping } from './generic.js';
export { checkAuth, getHeader, safeEqual, type AuthRequest } from './auth.js';
export { routeAlert, routeMatches } from './routing.js';
export { LIMITS, deriveFingerprint, isTimestamp } from './common.js';
