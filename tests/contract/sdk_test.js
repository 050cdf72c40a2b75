#!/usr/bin/env node
// Real client: IONOS's own Node SDK (@ionos-cloud/sdk-nodejs-container-registry) drives
// crtoken-emulator and asserts what it gets back: list registries, create a token via POST and
// via PUT, read it, patch it, page through 250 tokens, delete.
//
// Usage: sdk_test.js EMULATOR_BINARY
'use strict';

const sdk = require('@ionos-cloud/sdk-nodejs-container-registry');
const lib = require('./lib');
const { check, eq } = lib;

const binary = process.argv[2];
if (!binary) {
  console.error('usage: sdk_test.js EMULATOR_BINARY');
  process.exit(2);
}

function api(base, creds) {
  const configuration = new sdk.Configuration({ ...creds, basePath: base });
  configuration.maxWaitTime = 0;  // the SDK otherwise sleeps before every request
  return {
    registries: new sdk.RegistriesApi(configuration),
    tokens: new sdk.TokensApi(configuration),
  };
}

async function statusOf(promise) {
  try {
    const r = await promise;
    return r.status;
  } catch (e) {
    return e.response ? e.response.status : `no response: ${e.message}`;
  }
}

async function main() {
  const emulator = await lib.startEmulator(binary, ['--registry', 'acme-prod', '--registry',
    'acme-dev', '--token', 'sdk-token', '--user', 'alice', '--password', 's3cret']);
  try {
    const bearer = api(emulator.base, { apiKey: 'sdk-token' });
    const basic = api(emulator.base, { username: 'alice', password: 's3cret' });
    const wrong = api(emulator.base, { apiKey: 'nope' });

    // Registries.
    let r = await bearer.registries.registriesGet({});
    eq(r.status, 200, 'registriesGet');
    eq(r.data.items.map((i) => i.properties.name), ['acme-prod', 'acme-dev'], 'registry names');
    r = await basic.registries.registriesGet({ filterName: 'acme-prod', limit: '10' });
    eq(r.data.items.length, 1, 'filterName finds one registry (Basic auth)');
    const reg = r.data.items[0];
    eq(reg.properties.hostname, 'acme-prod.cr.de-fra.ionos.com', 'hostname');
    r = await bearer.registries.registriesFindById({ registryId: reg.id });
    eq(r.data.properties.name, 'acme-prod', 'registriesFindById');
    eq(await statusOf(wrong.registries.registriesGet({})), 401, 'wrong token is 401');
    const rid = reg.id;

    // POST.
    const scopes = [{ name: 'app/*', type: 'repository', actions: ['pull', 'push'] }];
    r = await bearer.tokens.registriesTokensPost({ registryId: rid, postTokenInput: {
      properties: { name: 'sdk-post', scopes, status: 'enabled' } } });
    eq(r.status, 201, 'registriesTokensPost');
    const postId = r.data.id;
    const password = r.data.properties.credentials.password;
    check(password.length >= 20, 'POST returns the password');
    eq(r.data.properties.credentials.username, 'sdk-post', 'username = name');
    check(typeof r.headers.location === 'string' && r.headers.location.endsWith(postId),
      `Location header: ${r.headers.location}`);
    eq(await statusOf(bearer.tokens.registriesTokensPost({ registryId: rid, postTokenInput: {
      properties: { name: 'sdk-post' } } })), 409, 'duplicate name is 409');

    // PUT with a chosen id.
    const putId = '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
    r = await basic.tokens.registriesTokensPut({ registryId: rid, tokenId: putId, putTokenInput: {
      properties: { name: 'sdk-put', status: 'disabled',
        expiryDate: new Date(Date.now() + 7 * 86400e3).toISOString() } } });
    eq(r.status, 201, 'registriesTokensPut creates');
    eq(r.data.id, putId, 'PUT keeps the chosen id');
    check(r.data.properties.credentials.password.length >= 20, 'PUT create returns the password');
    check(/Z$/.test(r.data.properties.expiryDate) && !/\./.test(r.data.properties.expiryDate),
      `expiryDate written without fraction: ${r.data.properties.expiryDate}`);

    // Read.
    r = await bearer.tokens.registriesTokensFindById({ registryId: rid, tokenId: postId });
    eq(r.data.properties.name, 'sdk-post', 'registriesTokensFindById');
    eq(r.data.properties.credentials.password, '', 'no password on read');
    eq(r.data.properties.scopes, scopes, 'scopes read back as sent');

    // Patch.
    r = await bearer.tokens.registriesTokensPatch({ registryId: rid, tokenId: putId,
      patchTokenInput: { status: 'enabled', expiryDate: null } });
    eq(r.status, 200, 'registriesTokensPatch');
    eq(r.data.properties.status, 'enabled', 'patched status');
    eq(r.data.properties.expiryDate, null, 'expiry cleared');
    r = await bearer.tokens.registriesTokensPatch({ registryId: rid, tokenId: postId,
      patchTokenInput: { scopes: [{ name: '*', type: 'registry', actions: ['pull'] }] } });
    eq(r.data.properties.scopes, [{ name: '*', type: 'registry', actions: ['pull'] }],
      'patched scopes replaced whole');
    eq(r.data.properties.status, 'enabled', 'absent status kept');

    // 250 tokens, paged by 100.
    for (let i = 0; i < 248; i++) {
      await bearer.tokens.registriesTokensPost({ registryId: rid, postTokenInput: {
        properties: { name: `bulk-${String(i).padStart(3, '0')}` } } });
    }
    const seen = [];
    const pages = [];
    for (let offset = 0; ; ) {
      r = await bearer.tokens.registriesTokensGet({ registryId: rid, offset: String(offset),
        limit: '100' });
      pages.push(r.data.count);
      eq(r.data.total, 250, `total at offset ${offset}`);
      eq(r.data.offset, offset, `offset echoed at ${offset}`);
      seen.push(...r.data.items.map((t) => t.properties.name));
      if (r.data.count === 0 || offset + r.data.count >= r.data.total) break;
      offset += r.data.count;
    }
    eq(pages, [100, 100, 50], 'page sizes');
    eq(new Set(seen).size, 250, '250 distinct tokens');
    eq(seen.slice(0, 2), ['sdk-post', 'sdk-put'], 'creation order');

    // Delete.
    r = await bearer.tokens.registriesTokensDelete({ registryId: rid, tokenId: postId });
    eq(r.status, 204, 'registriesTokensDelete');
    eq(await statusOf(bearer.tokens.registriesTokensFindById({ registryId: rid, tokenId: postId })),
      404, 'deleted token is 404');
    eq(await statusOf(bearer.tokens.registriesTokensDelete({ registryId: rid, tokenId: postId })),
      404, 'second delete is 404');
    r = await bearer.tokens.registriesTokensGet({ registryId: rid });
    eq(r.data.total, 249, 'total after delete');

    // The emulator's own view agrees.
    const state = await (await fetch(`${emulator.root}/_emulator/state`)).json();
    const tokens = state.registries.find((x) => x.id === rid).tokens;
    eq(tokens.length, 249, 'state holds 249 tokens');
    eq(tokens.find((t) => t.id === putId).status, 'enabled', 'state has the patched status');
    check(!tokens.some((t) => t.password === password), 'deleted token gone from state');
  } finally {
    lib.stop(emulator.proc);
  }
  const { checks, failures } = lib.summary();
  console.log(`sdk: ${checks} checks, ${failures} failures`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e.response ? `${e.message}: ${JSON.stringify(e.response.data)}` : e);
  process.exit(1);
});
