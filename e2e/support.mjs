// What the browser tests need around the browser: the real gateway binary with a real data
// directory, TOTP codes, the server's certificate key for Chromium, screenshots.

import { spawn, execFileSync } from 'node:child_process';
import { createHmac, createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = process.env.OEGD_BIN ?? join(REPO, 'target/debug/oegd-gateway');
export const CHROMIUM = process.env.OEGD_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO, 'target/screenshots');
const SHARED = process.env.OEGD_SHARED_DIR ?? join(REPO, '../shared');
export const FIXTURE = join(SHARED, 'fixtures/programme/small');

/** Fails with a clear message when something the tests need is missing. */
export function requireTools() {
  for (const [path, how] of [
    [BIN, 'build it first: cargo build -p oegd-gateway'],
    [CHROMIUM, 'install Debian\'s chromium package (apt-get install chromium chromium-driver) or set OEGD_CHROMIUM'],
    [FIXTURE, 'the fixtures are expected at ../shared/fixtures or $OEGD_SHARED_DIR'],
  ]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: ${how}`);
  }
}

/** A data directory of its own, driven by the real CLI. With `OEGD_TEST_DATABASE_URL` (as for
 * the Rust end-to-end tests) its database is a fresh PostgreSQL database, dropped at the end. */
export class Gateway {
  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'oegd-e2e-'));
    this.data = join(this.root, 'data');
    this.server = null;
    this.adminUrl = process.env.OEGD_TEST_DATABASE_URL ?? null;
    this.database = null;
  }

  /** A fresh PostgreSQL database for this gateway, or null for SQLite. */
  databaseUrl() {
    if (!this.adminUrl) return null;
    if (!this.database) {
      this.database = `oegd_e2e_${randomBytes(6).toString('hex')}`;
      execFileSync('psql', [this.adminUrl, '-qc', `CREATE DATABASE ${this.database}`], { stdio: 'inherit' });
    }
    const url = new URL(this.adminUrl);
    url.pathname = `/${this.database}`;
    return url.toString();
  }

  env() {
    const env = { ...process.env, OEGD_LOG: 'warn', OEGD_DATA: this.data };
    delete env.OEGD_DATABASE_URL; // the data directory's own database (SQLite)
    return env;
  }

  cli(...args) {
    const url = args[0] === 'init' ? this.databaseUrl() : null;
    if (url) args = [...args, '--database-url', url];
    return execFileSync(BIN, args, { encoding: 'utf8', env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
  }

  json(...args) {
    return JSON.parse(this.cli(...args, '--json'));
  }

  /** `serve` with the API and the web interface on free ports; resolves to the UI's URL. */
  async serve() {
    const child = spawn(BIN, ['serve', '--api-listen', '127.0.0.1:0', '--ui-listen', '127.0.0.1:0'], {
      env: this.env(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.server = child;
    const lines = createInterface({ input: child.stdout });
    const url = await new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('serve printed no web interface address')), 60_000);
      child.on('exit', (code) => fail(new Error(`serve exited with ${code}`)));
      lines.on('line', (line) => {
        const m = line.match(/Web-Oberfläche auf (https:\/\/[0-9.:]+)\//);
        if (m) {
          clearTimeout(timer);
          ok(m[1]);
        }
      });
    });
    return url;
  }

  /** SHA-256 of the server certificate's public key, base64: Chromium accepts exactly it. */
  serverSpki() {
    const cert = new X509Certificate(readFileSync(join(this.data, 'pki/server.crt')));
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    return createHash('sha256').update(spki).digest('base64');
  }

  stop() {
    if (this.server && this.server.exitCode === null) this.server.kill('SIGTERM');
    rmSync(this.root, { recursive: true, force: true });
    if (this.database) {
      execFileSync('psql', [this.adminUrl, '-qc', `DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`], {
        stdio: 'inherit',
      });
    }
  }
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from a base32 secret, as authenticator apps do. */
export function totp(secretBase32, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretBase32.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error('secret is not base32');
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

/** A user made with `user add`: login, one-time password, TOTP secret from the otpauth URI. */
export function addUser(gw, org, role, login) {
  const out = gw.json('user', 'add', '--org', org, '--role', role, '--name', login);
  const secret = new URL(out.totp_uri).searchParams.get('secret');
  return { login, password: out.initial_password, secret };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Rows of a Meldedaten CSV of the fixture (simple: the fixture quotes no commas). */
export function registerRows() {
  const rows = [];
  for (const n of [1, 2, 3]) {
    const [head, ...lines] = readFileSync(join(FIXTURE, `meldedaten_${n}.csv`), 'utf8').trim().split(/\r?\n/);
    const cols = head.split(',');
    for (const line of lines) {
      const cells = line.split(',');
      rows.push(Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? ''])));
    }
  }
  return rows;
}

export function writeFile(path, text) {
  writeFileSync(path, text);
}
