import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Redis from 'ioredis';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../server/src/net/dashboard.js';
import { type ChromiumPage, launchChromium } from '../helpers/browser.js';
import { freePort, makeTestCertificate, type RunningServer, redisClient, startKvws } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

// The dashboard (/dashboard, docs/dashboard.md) in a real browser: headless Chromium (test/helpers/browser.ts)
// on kvws's HTTPS port, with a users file (default user off, an admin, and bob who may only read app:* keys
// and hear their keyspace events). The test signs in through the form, watches a key set with PX 500 over RESP
// (ioredis) expire in the live feed, cuts the page's WebSocket (CLIENT KILL) and sees the feed resume, browses
// to a hash and edits a field (checked over RESP), sets a TTL, edits the other types, creates, renames and
// deletes a key, looks at the server stats and the ACL views,
// then signs in as bob and sees denied actions explained ("User bob may not run HSET on key …"). All along,
// the page must cause no Content-Security-Policy violation (listened to with `securitypolicyviolation` and
// the console) and no page error; a final control injects an inline script to show the listener works and the
// policy is enforced. Screenshots of each step go to test/artifacts/dashboard/. Needs `npm run build`.
// kvws-only.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(ROOT, 'test/artifacts/dashboard');

let dir = '';
let server: RunningServer;
let origin = '';
let chromium: ChromiumPage | undefined;
let page: Page;
let admin: Redis;
const consoleErrors: string[] = [];
const pageErrors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The CSP violations the page saw so far (recorded by the init script below). */
function violations(): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as { cspViolations: string[] }).cspViolations ?? []);
}

async function signIn(user: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('status', { name: 'Connection' }).filter({ hasText: 'Connected' }).waitFor({ timeout: 20_000 });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'kvws-dashboard-browser-'));
  const { cert, key } = makeTestCertificate(dir);
  const users = path.join(dir, 'users.acl');
  writeFileSync(
    users,
    [
      'user default off',
      'user admin on >admin-pw ~* &* +@all',
      'user bob on >bob-pw ~app:* &__keyspace@0__:app:* +@read +psubscribe +punsubscribe -@dangerous',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  server = await startKvws([
    ...['--port', String(await freePort()), '--tls-cert', cert, '--tls-key', key],
    ...['--acl-file', users, '--notify-keyspace-events', 'KEA'],
  ]);
  origin = `https://127.0.0.1:${server.httpsPort}`;
  admin = redisClient(server, { username: 'admin', password: 'admin-pw', enableReadyCheck: false });
  admin.on('error', () => {});
  await admin.hset('user:1', 'name', 'Ada', 'email', 'ada@example.com');
  await admin.hset('app:profile', 'theme', 'dark', 'lang', 'en');
  await admin.set('greeting', 'hello', 'EX', 3600);
  await admin.rpush('queue', 'a', 'b', 'c');
  await admin.sadd('tags', 'x', 'y');
  await admin.zadd('scores', 10, 'ada', 7, 'bob');

  chromium = await launchChromium();
  page = chromium.page;
  await page.setViewportSize({ width: 1360, height: 860 });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.addInitScript(() => {
    const g = globalThis as unknown as { cspViolations: string[] };
    g.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      g.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
}, 90_000);

afterAll(async () => {
  admin?.disconnect();
  await chromium?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the dashboard in Chromium', () => {
  it('is served with the strict CSP; a wrong password is refused; the form signs in; no token is stored', async () => {
    const res = await page.goto(`${origin}/dashboard`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toBe(DASHBOARD_CSP);
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    await shot('01-sign-in');

    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 10_000 }).toContain('Sign-in refused');
    await shot('02-sign-in-refused');

    await signIn('admin', 'admin-pw');
    await page.getByRole('button', { name: 'Open key user:1' }).waitFor();
    await shot('03-keys');
    const stored = await page.evaluate(() => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
    }));
    expect(stored).toEqual({ local: 0, session: 0, cookie: '' });
    expect(await chromium?.context.cookies()).toEqual([]);
  });

  it('shows a key set with PX 500 expire in the live feed, and filters by event type', async () => {
    await page.getByRole('button', { name: 'Live feed' }).click();
    await page.getByText('Listening to __keyspace@*__:* and __keyevent@*__:*').waitFor();
    await admin.set('session:42', 'ada', 'PX', 500);
    const expired = page.locator('tr.event-row[data-event="expired"]', { hasText: 'session:42' });
    await expired.waitFor({ timeout: 10_000 });
    // The set came first, once (the keyspace and keyevent messages of one change are shown as one row).
    await expect.poll(() => page.locator('tr.event-row[data-event="set"]', { hasText: 'session:42' }).count()).toBe(1);
    await expect.poll(() => expired.count()).toBe(1);
    await shot('04-feed-expired');

    await page
      .getByRole('group', { name: 'Event types' })
      .getByRole('button', { name: 'expired', exact: true })
      .click();
    await expect.poll(() => page.locator('tr.event-row[data-event="set"]').count()).toBe(0);
    expect(await expired.count()).toBe(1);
    await page.getByRole('button', { name: 'all events' }).click();
    await expect.poll(() => page.locator('tr.event-row[data-event="set"]').count()).toBeGreaterThan(0);
  });

  it('goes on after a network blip: the connection is cut, the feed resumes with the events missed', async () => {
    const list = String(await admin.call('CLIENT', 'LIST'));
    const line = list.split('\n').find((l) => / door=ws\b/.test(l) && / user=admin\b/.test(l));
    expect(line, list).toBeDefined();
    const id = /\bid=(\d+)/.exec(line as string)?.[1] as string;
    expect(await admin.call('CLIENT', 'KILL', 'ID', id)).toBe(1);
    await admin.set('blip:1', 'during');
    await page.getByText('Connection lost: reconnecting…').waitFor({ timeout: 10_000 });
    await page.getByText('Reconnected: the events missed meanwhile are replayed in order').waitFor({ timeout: 20_000 });
    await page.locator('tr.event-row[data-event="set"]', { hasText: 'blip:1' }).waitFor({ timeout: 10_000 });
    await page.getByRole('status', { name: 'Connection' }).filter({ hasText: 'Connected' }).waitFor();
    expect(await page.locator('tr.event-row', { hasText: 'blip:1' }).count()).toBe(1);
    await shot('05-feed-resumed');
  });

  it('browses to a hash, edits a field (checked over RESP) and sets a TTL that counts down', async () => {
    await page.getByRole('button', { name: 'Keys', exact: true }).click();
    await page.getByLabel('Key pattern', { exact: true }).fill('user:*');
    await page.getByLabel('Key type').selectOption('hash');
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    await expect.poll(() => page.locator('.key-table tbody tr').count()).toBe(1);
    await page.getByRole('button', { name: 'Open key user:1' }).click();
    const fields = page.getByRole('table', { name: 'Hash fields' });
    await fields.getByText('ada@example.com').waitFor();
    await page.getByRole('button', { name: 'Edit field name' }).click();
    await page.getByLabel('New value of name').fill('Grace Hopper');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    expect(await waitFor(async () => (await admin.hget('user:1', 'name')) === 'Grace Hopper', 10_000)).toBe(true);
    await fields.getByText('Grace Hopper').waitFor();
    await shot('06-hash-edited');

    await page.getByRole('button', { name: 'Set TTL' }).click();
    await page.getByLabel('TTL value').fill('120');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    expect(await waitFor(async () => (await admin.ttl('user:1')) > 100, 10_000)).toBe(true);
    const ttl = page.getByLabel('TTL', { exact: true });
    await expect.poll(() => ttl.textContent(), { timeout: 10_000 }).toMatch(/expires in\s*1 min \d\d s/);
    const before = await ttl.textContent();
    await expect.poll(() => ttl.textContent(), { timeout: 10_000 }).not.toBe(before);
    await page.getByRole('button', { name: 'Remove TTL' }).click();
    expect(await waitFor(async () => (await admin.ttl('user:1')) === -1, 10_000)).toBe(true);
    await expect.poll(() => ttl.textContent(), { timeout: 10_000 }).toContain('no expiry');
  });

  it('edits a string, a list, a set and a sorted set; creates, renames and deletes a key', async () => {
    await page.getByLabel('Key pattern', { exact: true }).fill('*');
    await page.getByLabel('Key type').selectOption('');
    await page.getByRole('button', { name: 'Scan', exact: true }).click();

    await page.getByRole('button', { name: 'Open key greeting' }).click();
    await page.getByLabel('Value', { exact: true }).fill('hi there');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    expect(await waitFor(async () => (await admin.get('greeting')) === 'hi there', 10_000)).toBe(true);
    expect(await admin.ttl('greeting')).toBeGreaterThan(3000); // KEEPTTL

    await page.getByRole('button', { name: 'Open key queue' }).click();
    const list = page.getByRole('table', { name: 'List elements' }).locator('tbody tr');
    await expect.poll(() => list.count()).toBe(3);
    await list.nth(1).getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('New value of element 1').fill('B');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    expect(await waitFor(async () => (await admin.lindex('queue', 1)) === 'B', 10_000)).toBe(true);
    await list.nth(0).getByRole('button', { name: 'Remove' }).click();
    await list.nth(0).getByRole('button', { name: 'Sure?' }).click();
    expect(await waitFor(async () => (await admin.llen('queue')) === 2, 10_000)).toBe(true);
    await page.getByLabel('New element').fill('d');
    await page.getByRole('button', { name: 'Add to tail' }).click();
    expect(await waitFor(async () => (await admin.lrange('queue', 0, -1)).join() === 'B,c,d', 10_000)).toBe(true);

    await page.getByRole('button', { name: 'Open key tags' }).click();
    await page.getByLabel('New member').fill('z');
    await page.getByRole('button', { name: 'Add member' }).click();
    expect(await waitFor(async () => (await admin.sismember('tags', 'z')) === 1, 10_000)).toBe(true);
    const x = page.getByRole('table', { name: 'Set members' }).locator('tbody tr', { hasText: 'x' });
    await x.getByRole('button', { name: 'Remove' }).click();
    await x.getByRole('button', { name: 'Sure?' }).click();
    expect(await waitFor(async () => (await admin.smembers('tags')).sort().join() === 'y,z', 10_000)).toBe(true);

    await page.getByRole('button', { name: 'Open key scores' }).click();
    const bob = page.getByRole('table', { name: 'Sorted set members' }).locator('tbody tr', { hasText: 'bob' });
    await bob.getByRole('button', { name: 'Edit score' }).click();
    await page.getByLabel('New score of bob').fill('20.5');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    expect(await waitFor(async () => (await admin.zscore('scores', 'bob')) === '20.5', 10_000)).toBe(true);
    await shot('07-sorted-set-edited');

    await page.getByRole('button', { name: '+ Key' }).click();
    await page.getByLabel('Key name').fill('app:new');
    await page.getByLabel('New key type').selectOption('list');
    await page.getByLabel('Element', { exact: true }).fill('first');
    await page.getByLabel('TTL in seconds').fill('60');
    await page.getByRole('button', { name: 'Create' }).click();
    expect(await waitFor(async () => (await admin.type('app:new')) === 'list', 10_000)).toBe(true);
    expect(await admin.ttl('app:new')).toBeGreaterThan(50);
    await page.getByRole('heading', { name: 'app:new' }).waitFor();

    await page.getByRole('button', { name: 'Rename', exact: true }).click();
    await page.getByLabel('New name').fill('app:renamed');
    await page.getByRole('form', { name: 'Rename key' }).getByRole('button', { name: 'Rename' }).click();
    expect(await waitFor(async () => (await admin.exists('app:renamed')) === 1, 10_000)).toBe(true);
    await page.getByRole('heading', { name: 'app:renamed' }).waitFor();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('button', { name: 'Delete key' }).click();
    expect(await waitFor(async () => (await admin.exists('app:renamed')) === 0, 10_000)).toBe(true);
    await page.getByText('This key was deleted').waitFor();
  });

  it('shows live server stats and, for the admin, the users and the ACL log', async () => {
    await page.getByRole('button', { name: 'Server' }).click();
    await page.getByRole('img', { name: 'Commands per second' }).waitFor();
    await page.getByRole('img', { name: 'Keys per database' }).waitFor();
    await page.getByText('Clients by front door').waitFor();
    // INFO is polled every 2 s: wait for a second sample, so the charts draw lines.
    const ops = page.getByRole('img', { name: 'Commands per second' }).locator('path.line');
    await expect.poll(() => ops.getAttribute('d'), { timeout: 15_000 }).toContain('L');
    expect(await page.locator('.chart path.line').count()).toBe(7);
    await shot('08-server');

    await page.getByRole('button', { name: 'Users & ACL log' }).click();
    const users = page.getByRole('table', { name: 'Users' });
    await users.getByText('bob').waitFor();
    expect(await users.getByText('admin').count()).toBe(1);
    await users.getByRole('button', { name: 'bob' }).click();
    await page.getByText('~app:*').first().waitFor();
    await shot('09-users-acl-log');
  });

  it('explains denied actions to a restricted user', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    await signIn('bob', 'bob-pw');
    // bob sees only his keys.
    await page.getByRole('button', { name: 'Open key app:profile' }).click();
    expect(await page.getByRole('button', { name: 'Open key user:1' }).count()).toBe(0);
    await page.getByRole('table', { name: 'Hash fields' }).getByText('dark').waitFor();
    await page.getByRole('button', { name: 'Edit field theme' }).click();
    await page.getByLabel('New value of theme').fill('light');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const notice = page.locator('.notice-error', { hasText: 'Permission denied' });
    await notice.waitFor({ timeout: 10_000 });
    const text = (await notice.textContent()) ?? '';
    expect(text).toContain('User bob may not run HSET on key "app:profile"');
    expect(text).toContain('ACL SETUSER bob +hset');
    expect(text).toContain("NOPERM this user has no permissions to run the 'hset' command");
    expect(await admin.hget('app:profile', 'theme')).toBe('dark');
    await shot('10-denied-hset');
    await notice.getByRole('button', { name: 'Dismiss' }).click();

    // The feed may not listen to every key: the refusal is explained, and a narrower pattern works.
    await page.getByRole('button', { name: 'Live feed' }).click();
    await page.getByText('User bob may not subscribe to "__keyspace@*__:*"').waitFor();
    await shot('11-denied-feed');
    await page.getByLabel('Feed database').selectOption('0');
    await page.getByLabel('Feed key pattern').fill('app:*');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    await page.getByText('Listening to __keyspace@0__:app:*').waitFor();
    await admin.set('app:flash', 'x', 'PX', 300);
    await admin.set('other:flash', 'x', 'PX', 300);
    await page.locator('tr.event-row[data-event="expired"]', { hasText: 'app:flash' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('tr.event-row', { hasText: 'other:flash' }).count()).toBe(0);

    await page.getByRole('button', { name: 'Server' }).click();
    await page.getByText('User bob may not run INFO').waitFor();
    await page.getByRole('button', { name: 'Users & ACL log' }).click();
    await page.getByText('User bob may not run ACL LIST').first().waitFor();
    await shot('12-denied-admin-views');
    // The server logged the refusals it explained.
    const log = (await admin.call('ACL', 'LOG')) as unknown[][];
    const objects = log.map((e) => {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < e.length; i += 2) o[String(e[i])] = e[i + 1];
      return `${o.username} ${o.reason} ${o.object}`;
    });
    expect(objects).toContain('bob command hset');
  });

  it('caused no CSP violation or page error; an injected inline script is blocked and reported', async () => {
    expect(await violations()).toEqual([]);
    expect(pageErrors).toEqual([]);
    // The only console error expected: the browser's own line for the refused sign-in (HTTP 401).
    expect(consoleErrors.filter((m) => !/status of 401/.test(m))).toEqual([]);
    const ran = await page.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = '(globalThis).inlineRan = true;';
      document.head.append(s);
      await new Promise((r) => setTimeout(r, 200));
      return (globalThis as unknown as { inlineRan?: boolean }).inlineRan === true;
    });
    expect(ran).toBe(false);
    await expect.poll(() => violations()).toEqual([expect.stringMatching(/^script-src-elem inline /)]);
  });
});
