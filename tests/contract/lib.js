// Shared helpers of the contract and SDK checks: start crtoken-emulator and Prism on free
// loopback ports, stop them by pid, and small assertions.
'use strict';

const { spawn } = require('child_process');
const net = require('net');
const path = require('path');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForHttp(url, deadlineMs, proc, what) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`${what} exited early with ${proc.exitCode}`);
    try {
      await fetch(url);
      return;
    } catch (e) {
      await sleep(50);
    }
  }
  throw new Error(`${what} did not answer ${url} within ${deadlineMs} ms`);
}

// Starts the emulator binary; returns {port, base, root, proc}.
async function startEmulator(binary, args) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn(binary, ['--listen', `127.0.0.1:${port}`, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const root = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${root}/_emulator/state`, 20000, proc, 'crtoken-emulator');
      return { port, root, base: `${root}/containerregistries`, proc };
    } catch (e) {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      if (attempt === 2) throw e;
    }
  }
}

// The API contract Prism enforces: the repository's own OpenAPI document.
const OPENAPI_SPEC = path.resolve(__dirname, '..', '..', 'docs', 'api',
  'container-registry.openapi.yaml');

// Starts `prism proxy SPEC UPSTREAM --errors`; returns {port, base, proc, log()}.
async function startPrism(spec, upstream) {
  const prism = path.join(__dirname, 'node_modules', '.bin', 'prism');
  const port = await freePort();
  let log = '';
  const proc = spawn(prism, ['proxy', spec, upstream, '-p', String(port), '-h', '127.0.0.1',
    '--errors'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { log += d.toString(); });
  proc.stderr.on('data', (d) => { log += d.toString(); });
  const end = Date.now() + 60000;
  while (!/Prism is listening/.test(log)) {
    if (proc.exitCode !== null) throw new Error(`prism exited early:\n${log}`);
    if (Date.now() > end) throw new Error(`prism did not start within 60 s:\n${log}`);
    await sleep(100);
  }
  return { port, root: `http://127.0.0.1:${port}`, base: `http://127.0.0.1:${port}/containerregistries`,
    proc, log: () => log };
}

function stop(proc) {
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
}

let failures = 0;
let checks = 0;
function check(cond, message) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`FAIL: ${message}`);
  }
}
function eq(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, `${message}: expected ${e}, got ${a}`);
}
function summary() {
  return { checks, failures };
}

module.exports = { freePort, sleep, startEmulator, startPrism, OPENAPI_SPEC, stop, check, eq,
  summary };
