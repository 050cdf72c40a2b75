#!/usr/bin/env node
// Contract check: a scripted client drives every registry and token operation of
// crtoken-emulator, including every error path, through Stoplight Prism
// (`prism proxy <contract spec> <emulator> --errors`). Prism validates each request and response
// against the contract spec; the run fails on any `sl-violations` header, any violation or
// terminated request in Prism's log, or any unexpected answer.
//
// Requests the spec itself calls invalid (malformed UUIDs, bad names, bad enums, bad dates,
// missing fields, no credentials) would be refused by Prism before they reach the emulator, so
// they go to the emulator directly; the script checks status 400/401 and the ApiErrorResponse
// body shape there.
//
// The contract is docs/api/container-registry.openapi.yaml.
//
// Usage: contract_test.js EMULATOR_BINARY
'use strict';

const lib = require('./lib');
const { check, eq } = lib;

const [binary] = process.argv.slice(2);
if (!binary) {
  console.error('usage: contract_test.js EMULATOR_BINARY');
  process.exit(2);
}

const TOKEN = 'contract-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const UNKNOWN = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

let emulator;
let prism;
let viaPrism = 0;

// One request; `through` is a base URL (prism or emulator). Returns {status, headers, json}.
async function call(through, method, path, { body, headers = AUTH, raw } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = raw ? body : JSON.stringify(body);
  }
  const res = await fetch(through + path, init);
  const text = method === 'HEAD' ? '' : await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch (e) { json = text; }
  if (through === prism.base) {
    viaPrism++;
    const v = res.headers.get('sl-violations');
    check(!v, `${method} ${path}: sl-violations header: ${v}`);
  }
  return { status: res.status, headers: res.headers, json };
}
const P = (...a) => call(prism.base, ...a);
const E = (...a) => call(emulator.base, ...a);

function isErrorBody(json, status, what) {
  check(json && json.httpStatus === status, `${what}: httpStatus ${status} in ${JSON.stringify(json)}`);
  check(json && Array.isArray(json.messages) && json.messages.length > 0 &&
        json.messages.every((m) => typeof m.errorCode === 'string' && typeof m.message === 'string'),
  `${what}: messages[] of {errorCode, message} strings in ${JSON.stringify(json)}`);
}

async function expectError(promise, status, what) {
  const r = await promise;
  eq(r.status, status, what);
  isErrorBody(r.json, status, what);
  return r;
}

function futureDate(seconds) {
  return new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function registries() {
  const loc = await P('GET', '/locations');
  eq(loc.status, 200, 'GET /locations');
  check(loc.json.items.some((l) => l.id === 'de/fra'), 'locations include de/fra');

  eq((await P('HEAD', '/names/acme-prod')).status, 200, 'HEAD /names of a taken name');
  eq((await P('HEAD', '/names/free-name')).status, 404, 'HEAD /names of a free name');
  eq((await E('HEAD', '/names/Bad_Name')).status, 400, 'HEAD /names of an invalid name');

  let r = await P('GET', '/registries');
  eq(r.status, 200, 'GET /registries');
  eq(r.json.items.map((i) => i.properties.name), ['acme-prod', 'acme-dev', 'other'], 'seeded');
  eq(r.json.items[0].metadata.state, 'Running', 'seeded registries are Running');
  eq(r.json.items[0].properties.hostname, 'acme-prod.cr.de-fra.ionos.com', 'seeded hostname');
  eq([r.json.id, r.json.type, r.json.href], ['registries', 'collection', ''], 'list envelope');
  eq(r.json.pagination.token, '', 'single page: empty pagination.token');
  const prodId = r.json.items[0].id;

  r = await P('GET', '/registries?filter.name=ACME');
  eq(r.json.items.map((i) => i.properties.name), ['acme-prod', 'acme-dev'],
    'filter.name contains, case-insensitive');

  // Cursor paging: limit 2, then the token.
  r = await P('GET', '/registries?limit=2');
  eq(r.json.items.length, 2, 'first page of 2');
  eq(r.json.pagination.limit, 2, 'pagination.limit echoed');
  check(r.json.pagination.token !== '', 'first page has a pagination.token');
  r = await P('GET', `/registries?limit=2&pagination.token=${encodeURIComponent(r.json.pagination.token)}`);
  eq(r.json.items.map((i) => i.properties.name), ['other'], 'second page');
  eq(r.json.pagination.token, '', 'last page: empty token');
  await expectError(P('GET', '/registries?pagination.token=not-a-token'), 400, 'bad cursor');
  await expectError(P('GET', '/registries?limit=0'), 400, 'registries limit=0');
  await expectError(P('GET', '/registries?limit=many'), 400, 'registries limit=many');

  // Create: New -> WaitingForStorage -> Running (provision time 600 s on the emulator's clock,
  // moved by the admin clock so that real time spent under load cannot change a state).
  r = await P('POST', '/registries', { body: { properties: { name: 'fresh-reg', location: 'de/txl',
    garbageCollectionSchedule: { days: ['Monday', 'Friday'], time: '01:23:00+00:00' } } } });
  eq(r.status, 201, 'POST /registries');
  check((r.headers.get('location') || '').endsWith(`/containerregistries/registries/${r.json.id}`),
    `POST /registries Location: ${r.headers.get('location')}`);
  eq(r.json.metadata.state, 'New', 'new registry state');
  eq(r.json.properties.hostname, '', 'hostname empty until Running');
  const freshId = r.json.id;
  await fetch(`${emulator.root}/_emulator/clock`, { method: 'POST',
    body: JSON.stringify({ advanceSeconds: 300 }) });
  r = await P('GET', `/registries/${freshId}`);
  eq(r.json.metadata.state, 'WaitingForStorage', 'registry state after 300 s');
  await fetch(`${emulator.root}/_emulator/clock`, { method: 'POST',
    body: JSON.stringify({ advanceSeconds: 300 }) });
  r = await P('GET', `/registries/${freshId}`);
  eq(r.status, 200, 'GET /registries/{id}');
  eq(r.json.metadata.state, 'Running', 'registry state after 600 s');
  eq(r.json.properties.hostname, 'fresh-reg.cr.de-txl.ionos.com', 'hostname once Running');

  await expectError(P('POST', '/registries', { body: { properties: { name: 'fresh-reg',
    location: 'de/fra' } } }), 400, 'POST /registries with a taken name');
  await expectError(P('POST', '/registries', { body: { properties: { name: 'nowhere',
    location: 'xx/yyy' } } }), 400, 'POST /registries with an unknown location');
  await expectError(P('GET', `/registries/${UNKNOWN}`), 404, 'GET unknown registry');

  r = await P('PUT', `/registries/${freshId}`, { body: { properties: { name: 'fresh-reg',
    location: 'de/txl' } } });
  eq(r.status, 201, 'PUT /registries/{id} replace');
  await expectError(P('PUT', `/registries/${freshId}`, { body: { properties: { name: 'renamed',
    location: 'de/txl' } } }), 400, 'PUT /registries/{id} renaming');
  const putId = '0a3e6c4f-2b7d-4c1e-9f5a-6b8d2e1c3a4b';
  r = await P('PUT', `/registries/${putId}`, { body: { properties: { name: 'put-reg',
    location: 'de/fra' } } });
  eq(r.status, 201, 'PUT /registries/{id} create');
  eq(r.json.id, putId, 'PUT /registries keeps the caller id');

  r = await P('PATCH', `/registries/${freshId}`, { body: { garbageCollectionSchedule: {
    days: ['Sunday'], time: '02:00:00+00:00' } } });
  eq(r.status, 200, 'PATCH /registries/{id}');
  eq(r.json.properties.garbageCollectionSchedule.days, ['Sunday'], 'PATCH schedule applied');
  check(typeof r.json.metadata.lastModifiedDate === 'string', 'lastModifiedDate set by PATCH');
  await expectError(P('PATCH', `/registries/${UNKNOWN}`, { body: {} }), 404,
    'PATCH unknown registry');

  eq((await P('DELETE', `/registries/${prodId}/repositories/ubuntu`)).status, 204,
    'DELETE repository contents');
  await expectError(P('DELETE', `/registries/${UNKNOWN}/repositories/ubuntu`), 404,
    'DELETE repository of an unknown registry');

  eq((await P('DELETE', `/registries/${putId}`)).status, 204, 'DELETE /registries/{id}');
  await expectError(P('DELETE', `/registries/${putId}`), 404, 'DELETE registry twice');

  // Invalid per the spec itself: straight to the emulator.
  await expectError(E('GET', '/registries/not-a-uuid'), 400, 'GET registry with a bad UUID');
  await expectError(E('DELETE', '/registries/not-a-uuid'), 400, 'DELETE registry with a bad UUID');
  await expectError(E('PATCH', '/registries/not-a-uuid', { body: {} }), 400, 'PATCH bad UUID');
  await expectError(E('PUT', '/registries/not-a-uuid', { body: { properties: { name: 'x-y',
    location: 'de/fra' } } }), 400, 'PUT registry with a bad UUID');
  await expectError(E('POST', '/registries', { body: { properties: { name: 'Upper',
    location: 'de/fra' } } }), 400, 'POST registry with a bad name');
  await expectError(E('POST', '/registries', { body: { properties: { name: 'no-location' } } }),
    400, 'POST registry without location');
  await expectError(E('POST', '/registries', { body: { properties: { name: 'bad-day',
    location: 'de/fra', garbageCollectionSchedule: { days: ['Funday'], time: '01:00:00' } } } }),
  400, 'POST registry with a bad weekday');
  await expectError(E('POST', '/registries', { body: {} }), 400, 'POST registry without properties');
  await expectError(E('GET', '/registries', { headers: {} }), 401, 'GET registries without auth');
  return prodId;
}

async function tokens(rid) {
  const base = `/registries/${rid}/tokens`;
  const scopes = [{ name: 'app/*', type: 'repository', actions: ['pull', 'push'] },
    { name: 'backup', type: 'backup', actions: ['pull'] }];
  const expiry = futureDate(30 * 86400);

  // POST
  let r = await P('POST', base, { body: { properties: { name: 'ci-push', scopes, expiryDate: expiry } } });
  eq(r.status, 201, 'POST token');
  const id = r.json.id;
  check((r.headers.get('location') || '').endsWith(`${base}/${id}`), 'POST token Location');
  const pw = r.json.properties.credentials.password;
  check(typeof pw === 'string' && pw.length >= 20, 'password in the create response');
  eq(r.json.properties.credentials.username, 'ci-push', 'username = name');
  eq(r.json.properties.status, 'enabled', 'status defaults to enabled');
  eq(r.json.properties.scopes, scopes, 'scopes echoed as sent (any type string, order kept)');
  eq(r.json.properties.expiryDate, expiry, 'expiryDate as YYYY-MM-DDTHH:MM:SSZ');
  eq([r.json.type, r.json.href, r.json.metadata.state], ['token', '', 'enabled'], 'token envelope');
  eq(r.json.metadata.lastModifiedDate, null, 'lastModifiedDate null on a fresh token');
  check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(r.json.metadata.createdDate), 'createdDate form');

  await expectError(P('POST', base, { body: { properties: { name: 'ci-push' } } }), 409,
    'POST duplicate name');
  await expectError(P('POST', `/registries/${UNKNOWN}/tokens`, { body: { properties: {
    name: 'x1' } } }), 404, 'POST token into an unknown registry');
  await expectError(P('POST', base, { body: { properties: { name: 'old',
    expiryDate: '2001-01-01T00:00:00Z' } } }), 400, 'POST token expiring in the past');
  // Prism answers broken JSON itself (with its own body): ask the emulator.
  await expectError(E('POST', base, { body: '{"properties":', raw: true }), 400,
    'POST token with broken JSON');
  await expectError(E('PATCH', `${base}/${UNKNOWN}`, { body: '{', raw: true }), 400,
    'PATCH with broken JSON');

  // GET
  r = await P('GET', `${base}/${id}`);
  eq(r.status, 200, 'GET token');
  eq(r.json.properties.credentials, { username: 'ci-push', password: '' }, 'no password on GET');
  await expectError(P('GET', `${base}/${UNKNOWN}`), 404, 'GET unknown token');
  await expectError(P('GET', `/registries/${UNKNOWN}/tokens/${id}`), 404,
    'GET token of an unknown registry');

  // PUT: create with a caller-chosen id, replace, rename, name clash.
  const putId = 'c0ffee00-1234-4abc-8def-0123456789ab';
  r = await P('PUT', `${base}/${putId}`, { body: { properties: { name: 'puller', status: 'disabled',
    scopes: [{ name: '*', type: 'registry', actions: ['pull'] }] } } });
  eq(r.status, 201, 'PUT token create');
  eq(r.json.id, putId, 'PUT keeps the caller id');
  check(r.json.properties.credentials.password.length >= 20, 'PUT create returns a password');
  check((r.headers.get('location') || '').endsWith(`${base}/${putId}`), 'PUT token Location');
  r = await P('PUT', `${base}/${putId}`, { body: { properties: { name: 'puller', status: 'enabled' } } });
  eq(r.status, 201, 'PUT token replace (default status 201)');
  eq(r.json.properties.credentials.password, '', 'PUT replace keeps the password (not shown)');
  eq(r.json.properties.scopes, [], 'PUT replace: absent scopes become empty');
  check(typeof r.json.metadata.lastModifiedBy === 'string', 'lastModifiedBy after PUT replace');
  await expectError(P('PUT', `${base}/${putId}`, { body: { properties: { name: 'renamed' } } }), 400,
    'PUT token renaming');
  await expectError(P('PUT', `${base}/${UNKNOWN}`, { body: { properties: { name: 'ci-push' } } }),
    409, 'PUT new id with a taken name');
  await expectError(P('PUT', `/registries/${UNKNOWN}/tokens/${putId}`, { body: { properties: {
    name: 'puller' } } }), 404, 'PUT token into an unknown registry');

  // PATCH
  r = await P('PATCH', `${base}/${id}`, { body: { status: 'disabled' } });
  eq(r.status, 200, 'PATCH token');
  eq([r.json.properties.status, r.json.metadata.state], ['disabled', 'disabled'], 'PATCH status');
  eq(r.json.properties.scopes, scopes, 'PATCH keeps absent scopes');
  eq(r.json.properties.expiryDate, expiry, 'PATCH keeps absent expiryDate');
  eq(r.json.properties.credentials.password, '', 'no password on PATCH');
  r = await P('PATCH', `${base}/${id}`, { body: { expiryDate: null, scopes: [scopes[1]] } });
  eq(r.json.properties.expiryDate, null, 'PATCH expiryDate null clears it');
  eq(r.json.properties.scopes, [scopes[1]], 'PATCH replaces scopes whole');
  eq(r.json.properties.status, 'disabled', 'PATCH keeps absent status');
  await expectError(P('PATCH', `${base}/${UNKNOWN}`, { body: { status: 'enabled' } }), 404,
    'PATCH unknown token');
  await expectError(P('PATCH', `${base}/${id}`, { body: { expiryDate: '1999-12-31T23:59:59Z' } }),
    400, 'PATCH expiry in the past');

  // List with offset/limit paging.
  for (let i = 0; i < 5; i++) {
    eq((await P('POST', base, { body: { properties: { name: `bulk-${i}` } } })).status, 201, 'bulk');
  }
  r = await P('GET', `${base}?offset=0&limit=3`);
  eq(r.status, 200, 'GET tokens page 1');
  eq([r.json.count, r.json.limit, r.json.offset, r.json.total], [3, 3, 0, 7], 'page 1 counters');
  eq([r.json.id, r.json.type, r.json.href], ['tokens', 'collection', ''], 'token list envelope');
  check(r.json.items.every((t) => t.properties.credentials.password === ''), 'no passwords in list');
  check(r.json._links.next !== '' && r.json._links.previous === '', 'page 1 links');
  r = await P('GET', `${base}?offset=6&limit=3`);
  eq([r.json.count, r.json.offset, r.json._links.next], [1, 6, ''], 'last page');
  r = await P('GET', base);
  eq([r.json.count, r.json.limit, r.json.offset], [7, 100, 0], 'defaults offset 0, limit 100');
  r = await P('GET', `${base}?limit=5000`);
  eq(r.json.limit, 1000, 'limit above the maximum is clamped');
  await expectError(P('GET', `${base}?offset=abc`), 400, 'offset=abc');
  await expectError(P('GET', `${base}?offset=-1`), 400, 'offset=-1');
  await expectError(P('GET', `${base}?limit=0`), 400, 'limit=0');
  await expectError(P('GET', `/registries/${UNKNOWN}/tokens`), 404, 'list of an unknown registry');

  // 401 with a wrong credential passes Prism's scheme check and reaches the emulator.
  await expectError(P('GET', base, { headers: { Authorization: 'Bearer wrong' } }), 401,
    'wrong bearer token');
  await expectError(P('GET', base, { headers: { Authorization: `Basic ${Buffer.from('u:p')
    .toString('base64')}` } }), 401, 'Basic when only --token is configured');

  // Fault rules: documented error statuses, Retry-After in both forms, delay.
  const addFault = (rule) => fetch(`${emulator.root}/_emulator/faults`, { method: 'POST',
    body: JSON.stringify(rule) });
  await addFault({ method: 'GET', path: '/tokens\\?offset=0', status: 429, retryAfter: '3', times: 1 });
  r = await expectError(P('GET', `${base}?offset=0`), 429, 'fault 429');
  eq(r.headers.get('retry-after'), '3', 'Retry-After seconds');
  const httpDate = 'Wed, 21 Oct 2026 07:28:00 GMT';
  await addFault({ path: `tokens/${id}$`, status: 503, retryAfter: httpDate, times: 1 });
  r = await expectError(P('GET', `${base}/${id}`), 503, 'fault 503');
  eq(r.headers.get('retry-after'), httpDate, 'Retry-After HTTP-date');
  await addFault({ method: 'PATCH', status: 403, times: 1 });
  await expectError(P('PATCH', `${base}/${id}`, { body: { status: 'enabled' } }), 403, 'fault 403');
  for (const status of [500, 502, 504]) {
    await addFault({ method: 'DELETE', status, times: 1 });
    await expectError(P('DELETE', `${base}/${id}`), status, `fault ${status}`);
  }
  await addFault({ method: 'GET', path: `tokens/${id}$`, delayMs: 200, times: 1 });
  const t0 = Date.now();
  eq((await P('GET', `${base}/${id}`)).status, 200, 'delayed answer');
  check(Date.now() - t0 >= 200, 'delayMs delays the answer');

  // DELETE
  eq((await P('DELETE', `${base}/${id}`)).status, 204, 'DELETE token');
  await expectError(P('DELETE', `${base}/${id}`), 404, 'DELETE token twice');
  await expectError(P('DELETE', `/registries/${UNKNOWN}/tokens/${id}`), 404,
    'DELETE token of an unknown registry');

  // Invalid per the spec itself: straight to the emulator.
  await expectError(E('GET', `/registries/nope/tokens`), 400, 'list with a bad registry UUID');
  await expectError(E('GET', `${base}/nope`), 400, 'GET token with a bad UUID');
  await expectError(E('PUT', `${base}/nope`, { body: { properties: { name: 'ab' } } }), 400,
    'PUT token with a bad UUID');
  await expectError(E('PATCH', `${base}/nope`, { body: {} }), 400, 'PATCH token with a bad UUID');
  await expectError(E('DELETE', `${base}/nope`), 400, 'DELETE token with a bad UUID');
  await expectError(E('POST', `/registries/nope/tokens`, { body: { properties: { name: 'ab' } } }),
    400, 'POST token with a bad registry UUID');
  for (const name of ['a', '1abc', 'ends-', 'under_score', 'x'.repeat(64), '']) {
    await expectError(E('POST', base, { body: { properties: { name } } }), 400, `name "${name}"`);
  }
  await expectError(E('POST', base, { body: { properties: { name: 'ok-name', status: 'on' } } }),
    400, 'bad status enum');
  await expectError(E('POST', base, { body: { properties: { name: 'ok-name',
    expiryDate: '2030-02-30T00:00:00Z' } } }), 400, 'impossible date');
  await expectError(E('POST', base, { body: { properties: { name: 'ok-name',
    expiryDate: 'tomorrow' } } }), 400, 'bad date-time');
  await expectError(E('POST', base, { body: { properties: { name: 'ok-name',
    scopes: [{ name: '*', type: 'repository' }] } } }), 400, 'scope without actions');
  await expectError(E('POST', base, { body: { properties: {} } }), 400, 'token without name');
  await expectError(E('POST', base, { body: { name: 'unwrapped' } }), 400, 'token without properties');
  await expectError(E('POST', base, { body: [] }), 400, 'array body');
  await expectError(E('PATCH', `${base}/${putId}`, { body: { status: 'paused' } }), 400,
    'PATCH bad status');
  await expectError(E('PATCH', `${base}/${putId}`, { body: { scopes: 'all' } }), 400,
    'PATCH scopes not an array');
  await expectError(E('GET', base, { headers: {} }), 401, 'no credentials');
}

async function main() {
  emulator = await lib.startEmulator(binary, ['--registry', 'acme-prod', '--registry', 'acme-dev',
    '--registry', 'other', '--token', TOKEN, '--provision-seconds', '600']);
  prism = await lib.startPrism(lib.OPENAPI_SPEC, `http://127.0.0.1:${emulator.port}`);
  try {
    const rid = await registries();
    await tokens(rid);
  } finally {
    lib.stop(prism.proc);
    lib.stop(emulator.proc);
  }
  const log = prism.log();
  const bad = log.split('\n').filter((l) => /violation|terminated|✖/i.test(l));
  for (const l of bad) console.error(`PRISM: ${l}`);
  check(bad.length === 0, `Prism log has ${bad.length} violation/error lines`);
  const { checks, failures } = lib.summary();
  console.log(`contract: ${checks} checks, ${failures} failures, ${viaPrism} requests through Prism`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  if (prism) lib.stop(prism.proc);
  if (emulator) lib.stop(emulator.proc);
  process.exit(1);
});
