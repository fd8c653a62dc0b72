// Browser end-to-end test of the SPA: the real `scaleinfra serve` on a fresh SQLite database, driven in
// Debian's headless Chromium (/usr/bin/chromium) by playwright-core. Screenshots of every step go to
// <repo>/target/e2e/ (or $E2E_OUT), with figures.json (time to the login form).
//
// Needs: SI_E2E_BIN (the server binary; scripts/test passes the debug build), frontend/dist built.
// No sleeps: every wait polls a condition until a deadline.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = process.env.E2E_OUT ?? join(REPO, 'target/e2e');
const BIN = process.env.SI_E2E_BIN;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const DEADLINE_MS = 15_000;

const OPERATOR = { email: 'operator@provider.example', password: 'Quartz-Meadow-Falcon-42' };
const ALICE = {
  email: 'alice@acme.example', password: 'Velvet-Harbor-Lantern-93', name: 'Alice Admin',
  newPassword: 'Orchid-Tundra-Beacon-64',
};
const BOB = { email: 'bob@acme.example', password: 'Saffron-Glacier-Piston-71', name: 'Bob User' };
const GINA = { email: 'gina@globex.example', password: 'Copper-Willow-Thunder-58', name: 'Gina Globex' };

let server;
let workdir;
let base;
let profile;
let context;
let page;
let step = 0;
const consoleErrors = [];
const foreignRequests = [];
const figures = {};

/** Poll `check` until it returns a truthy value or the deadline passes. */
async function until(what, check, ms = DEADLINE_MS) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function shot(name) {
  step += 1;
  const file = join(OUT, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

function startServer() {
  workdir = mkdtempSync(join(tmpdir(), 'si-spa-e2e-'));
  // The server refuses unknown SCALEINFRA_* variables: pass only the ones meant for it.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SCALEINFRA_')));
  const env = {
    ...inherited,
    SCALEINFRA_ADMIN_EMAIL: OPERATOR.email,
    SCALEINFRA_ADMIN_PASSWORD: OPERATOR.password,
    SCALEINFRA_LOGIN_PER_ACCOUNT_PER_MINUTE: '3',
    SCALEINFRA_WORKERS: '2',
    // The simulated pool boots in 0.2 s and its agents call in every 0.5 s, so scripts run at once.
    SCALEINFRA_SIM_BOOT_MS: '200',
    SCALEINFRA_HEARTBEAT_MS: '500',
    // A killed host is down after two missed checks of 0.3 s.
    SCALEINFRA_HOST_CHECK_MS: '300',
    SCALEINFRA_HOST_DOWN_AFTER: '2',
    RUST_LOG: 'warn',
  };
  const child = spawn(BIN, ['serve', '--database-url', `sqlite://${join(workdir, 'e2e.db')}`, '--bind', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const onData = (chunk) => {
      output += chunk.toString();
      const m = output.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m) resolvePromise({ child, url: m[1] });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => { output += c.toString(); });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
  });
}

/** Submit the login form; resolves to the HTTP status of `POST /auth/login`. */
async function login(who) {
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: DEADLINE_MS });
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'), { timeout: DEADLINE_MS }),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  return resp.status();
}

async function alertSays(re) {
  return until(`an alert matching ${re}`, async () =>
    (await page.getByRole('alert').allInnerTexts()).find((t) => re.test(t)));
}

async function logout() {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: DEADLINE_MS });
}

async function heading(text) {
  await page.getByRole('heading', { level: 1, name: text, exact: true }).waitFor({ timeout: DEADLINE_MS });
}

async function navLabels() {
  return page.locator('nav[aria-label="Main"] a').allInnerTexts();
}

async function createTenant({ name, slug, admin }) {
  await page.getByRole('button', { name: 'New tenant' }).click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (slug) await page.getByLabel('Slug').fill(slug);
  await page.getByLabel('Admin name').fill(admin.name);
  await page.getByLabel('Admin email').fill(admin.email);
  await page.getByLabel('Admin password').fill(admin.password);
  await page.getByRole('button', { name: 'Create tenant' }).click();
}

async function createProject(name, description = '') {
  await page.getByRole('button', { name: 'New project' }).click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (description) await page.getByLabel('Description (optional)').fill(description);
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.locator(`tr[data-project="${name}"]`).waitFor({ timeout: DEADLINE_MS });
}

before(async () => {
  assert.ok(BIN, 'set SI_E2E_BIN to the scaleinfra binary');
  mkdirSync(OUT, { recursive: true });
  const started = await startServer();
  server = started.child;
  base = started.url;
  // A fresh profile each run: nothing cached, no cookies.
  profile = mkdtempSync(join(tmpdir(), 'si-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  // Record when the login form first appears, measured from the navigation's start.
  await context.addInitScript(() => {
    const seen = () => {
      const f = document.getElementById('login-form');
      if (f && f.getBoundingClientRect().height > 0 && window.__loginVisibleAt === undefined) {
        window.__loginVisibleAt = performance.now();
      }
    };
    new MutationObserver(seen).observe(document, { childList: true, subtree: true });
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:')) foreignRequests.push(u);
  });
});

after(async () => {
  await context?.close();
  server?.kill('SIGTERM');
  for (const dir of [workdir, profile]) if (dir) rmSync(dir, { recursive: true, force: true });
  writeFileSync(join(OUT, 'figures.json'), JSON.stringify(figures, null, 2));
});

test('operator, admin and user walk through the portal; the user sees exactly the assigned project', async () => {
  // 1. The login form, cold (fresh profile, empty cache).
  const t0 = Date.now();
  await page.goto(`${base}/`);
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: DEADLINE_MS });
  figures.login_form_visible_wall_ms = Date.now() - t0;
  figures.login_form_visible_perf_ms = await until('the login timing', () =>
    page.evaluate(() => window.__loginVisibleAt));
  await shot('login');

  // 2. A wrong password is refused in words; repeated attempts hit the rate limit with its wait.
  assert.equal(await login({ email: OPERATOR.email, password: 'not-the-password' }), 401);
  await alertSays(/The email or password is wrong\./);
  await shot('login-wrong-password');
  // The server allows 3 attempts per account and minute here: the 4th answers 429 with Retry-After.
  const ghost = { email: 'nobody@nowhere.example', password: 'whatever-it-is' };
  const statuses = [];
  for (let i = 0; i < 4; i += 1) statuses.push(await login(ghost));
  assert.deepEqual(statuses, [401, 401, 401, 429]);
  await alertSays(/^Too many attempts\. Try again in \d+ seconds?\.$/);
  await shot('login-rate-limited');

  // 3. The operator: role-aware navigation, then tenants.
  assert.equal(await login(OPERATOR), 200);
  await heading('Tenants');
  assert.deepEqual(await navLabels(), ['Tenants', 'Pools and hosts', 'Provider users', 'Script library', 'Profile']);
  await shot('operator-tenants');

  await createTenant({ name: 'Acme Hosting', admin: ALICE });
  const acme = page.locator('tr[data-tenant="acme-hosting"]');
  await acme.waitFor({ timeout: DEADLINE_MS });
  assert.match(await acme.innerText(), /Active/);
  await shot('operator-created-acme');

  // A taken slug: the server's 409 names `slug`, shown beside that input.
  await createTenant({ name: 'Globex', slug: 'acme-hosting', admin: GINA });
  const slug = page.getByLabel('Slug');
  await until('the slug error', async () => (await slug.getAttribute('aria-invalid')) === 'true');
  const slugError = await page.locator('[id="slug-error"]').innerText();
  assert.ok(slugError.length > 0, 'the slug error has words');
  await shot('operator-slug-conflict');
  await slug.fill('globex');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  const globex = page.locator('tr[data-tenant="globex"]');
  await globex.waitFor({ timeout: DEADLINE_MS });

  // Suspend (after a confirmation), then reactivate.
  await globex.getByRole('button', { name: 'Suspend' }).click();
  await globex.getByRole('button', { name: 'Yes, suspend' }).click();
  await until('Globex suspended', async () => /Suspended/.test(await globex.innerText()));
  await shot('operator-suspended-globex');
  await globex.getByRole('button', { name: 'Reactivate' }).click();
  await until('Globex active again', async () => /Active/.test(await globex.innerText()));
  await logout();

  // 4. Acme's admin: a user, two projects, one assignment.
  await login(ALICE);
  await heading('Projects');
  assert.deepEqual(await navLabels(), ['Projects', 'Users', 'CloudScripts', 'Profile']);
  await page.getByRole('link', { name: 'Users', exact: true }).click();
  await heading('Users');
  await page.getByRole('button', { name: 'New user' }).click();
  await page.getByLabel('Name', { exact: true }).fill(BOB.name);
  await page.getByLabel('Email').fill(BOB.email);
  await page.getByLabel('Role', { exact: true }).selectOption('user');
  await page.getByLabel('Initial password').fill(BOB.password);
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.locator(`tr[data-user="${BOB.email}"]`).waitFor({ timeout: DEADLINE_MS });
  await shot('admin-created-user');

  await page.getByRole('link', { name: 'Projects', exact: true }).click();
  await heading('Projects');
  await createProject('Web shop', 'The storefront');
  await createProject('Back office');
  await shot('admin-created-projects');

  await page.getByRole('link', { name: 'Web shop' }).click();
  await heading('Web shop');
  await page.getByRole('combobox', { name: 'Assign a user' }).selectOption({ label: `${BOB.name} (${BOB.email})` });
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  await page.locator(`tr[data-member="${BOB.email}"]`).waitFor({ timeout: DEADLINE_MS });
  await shot('admin-assigned-bob');

  // A stale access token: a second tab changes Alice's password, which ends the access tokens of
  // her other sessions. This tab then opens the project, whose four requests (the project, its
  // applications, members and the tenant's users) go out at once: all four get 401, exactly one refresh
  // runs (through the cookie the other tab received), and each request is sent once more and succeeds.
  await page.getByRole('link', { name: 'Projects', exact: true }).click();
  await heading('Projects');
  const tab2 = await context.newPage();
  await tab2.goto(`${base}/profile`);
  await tab2.getByRole('heading', { level: 1, name: 'Profile' }).waitFor({ timeout: DEADLINE_MS });
  await tab2.getByLabel('Current password').fill(ALICE.password);
  await tab2.getByLabel('New password', { exact: true }).fill(ALICE.newPassword);
  await tab2.getByLabel('Repeat the new password').fill(ALICE.newPassword);
  await tab2.getByRole('button', { name: 'Change password' }).click();
  await tab2.getByText('Password changed.').waitFor({ timeout: DEADLINE_MS });
  await tab2.screenshot({ path: join(OUT, 'profile-password-changed.png'), fullPage: true });
  await tab2.close();
  const seen = [];
  const onResponse = (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/api/v1/')) seen.push({ method: r.request().method(), path, status: r.status() });
  };
  page.on('response', onResponse);
  await page.getByRole('link', { name: 'Web shop' }).click();
  await heading('Web shop');
  await page.locator(`tr[data-member="${BOB.email}"]`).waitFor({ timeout: DEADLINE_MS });
  await until('the four retries', () => seen.filter((r) => r.method === 'GET' && r.status === 200).length === 4);
  page.off('response', onResponse);
  assert.deepEqual(seen.filter((r) => r.path === '/api/v1/auth/refresh').map((r) => r.status), [200],
    `one refresh for four 401s: ${JSON.stringify(seen)}`);
  assert.equal(seen.filter((r) => r.status === 401).length, 4, JSON.stringify(seen));
  await logout();

  // 5. Another tenant's admin creates a project of its own.
  await login(GINA);
  await heading('Projects');
  await createProject('Globex secret');
  await shot('other-tenant-project');
  await logout();

  // 6. The user sees exactly the assigned project: not the unassigned one, not another tenant's.
  await login(BOB);
  await heading('My projects');
  assert.deepEqual(await navLabels(), ['My projects', 'CloudScripts', 'Profile']);
  const cards = page.locator('li.project-card h2');
  await cards.first().waitFor({ timeout: DEADLINE_MS });
  assert.deepEqual(await cards.allInnerTexts(), ['Web shop']);
  await shot('user-my-projects');
  assert.equal(await page.title(), 'My projects · ScaleInfra');

  // On a phone-sized screen the navigation moves above the page.
  await page.setViewportSize({ width: 390, height: 844 });
  const nav = await page.locator('nav[aria-label="Main"]').boundingBox();
  const main = await page.locator('main#main').boundingBox();
  assert.ok(nav.y + nav.height <= main.y + 1 && main.y - (nav.y + nav.height) < 2 && nav.height < 120 && main.width > 300,
    `nav right above the page: ${JSON.stringify({ nav, main })}`);
  await shot('user-my-projects-phone');
  await page.setViewportSize({ width: 1280, height: 800 });

  // The session survives a reload (refresh cookie → new access token); deep links follow the role.
  await page.reload();
  await heading('My projects');
  assert.deepEqual(await cards.allInnerTexts(), ['Web shop']);
  await page.goto(`${base}/tenants`);
  await heading('Not available');
  await shot('user-forbidden-page');
  await page.goto(`${base}/no/such/page`);
  await heading('Page not found');

  assert.deepEqual(foreignRequests, [], 'nothing is fetched from outside');
  assert.deepEqual(consoleErrors.filter((e) => !/status of (401|409|422|429)/.test(e)), [],
    'no console errors (the refused requests of the test aside)');
});

/** The API as `who` (for the setup the designer will do in the browser): `call(method, path, body)`. */
// API sessions by email: `api(who, { reuse: true })` takes the one an earlier call opened (the
// server allows 3 logins per account and minute here, and the operator logs in in every case).
const apiTokens = new Map();

async function api(who, { reuse = false } = {}) {
  let token = reuse ? apiTokens.get(who.email) : undefined;
  if (token) {
    // a kept token may have expired or been revoked since: then log in after all
    const me = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    if (me.status !== 200) token = undefined;
  }
  if (!token) {
    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: who.email, password: who.password }),
    });
    assert.equal(login.status, 200, `API login of ${who.email}`);
    ({ access_token: token } = await login.json());
    apiTokens.set(who.email, token);
  }
  return async (method, path, body) => {
    const r = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

test('CloudScripts are written, previewed and run in the portal; a rule made in its form runs after a scale-out', async () => {
  // Its own tenants (nothing from the walk-through above): Initech, whose admin works here, and
  // Hooli, whose admin must not see Initech's work.
  const IVY = { email: 'ivy@initech.example', password: 'Marble-Comet-Harvest-27', name: 'Ivy Initech' };
  const HAL = { email: 'hal@hooli.example', password: 'Pepper-Lagoon-Rocket-19', name: 'Hal Hooli' };
  const operator = await api(OPERATOR);
  await operator('POST', '/tenants', { name: 'Initech', slug: 'initech', admin: IVY });
  await operator('POST', '/tenants', { name: 'Hooli', slug: 'hooli', admin: HAL });
  const call = await api(IVY);
  const shop = await call('POST', '/projects', { name: 'Web shop', description: '' });
  const templates = (await call('GET', '/templates?limit=500')).items;
  const lb = templates.find((t) => t.role === 'load_balancer');
  const php = templates.find((t) => t.role === 'app_server' && /PHP/.test(t.name));
  assert.ok(lb && php, 'the seeded catalog has a load balancer and a PHP app server');
  // The application the designer will build: a load balancer layer and an app layer, deployed.
  const app = await call('POST', `/projects/${shop.id}/applications`, { name: 'Storefront' });
  let shape = await call('POST', `/applications/${app.id}/layers`, { name: 'lb' });
  shape = await call('POST', `/applications/${app.id}/layers`, { name: 'app' });
  const layerId = (name) => shape.layers.find((l) => l.name === name).id;
  await call('POST', `/layers/${layerId('lb')}/groups`, { name: 'lb', template_id: lb.id, size: { desired: 1, min: 1, max: 1 } });
  await call('POST', `/layers/${layerId('app')}/groups`, { name: 'php', template_id: php.id, size: { desired: 1, min: 1, max: 3 } });
  await call('POST', `/applications/${app.id}/deploy`, {});

  if (await page.getByRole('button', { name: 'Log out' }).count()) await logout();
  await login(IVY);
  await heading('Projects');

  // 1. The scripts: the provider's library is there; a new script is refused with its line until its
  // variable is declared.
  await page.getByRole('link', { name: 'CloudScripts', exact: true }).click();
  await heading('CloudScripts');
  await page.locator('tr[data-script="haproxy-add-app-servers"]').waitFor({ timeout: DEADLINE_MS });
  assert.match(await page.locator('tr[data-script="health-check"]').innerText(), /Library/);
  await page.getByRole('link', { name: 'New script' }).click();
  await heading('New CloudScript');
  assert.equal(await page.title(), 'New CloudScript · ScaleInfra');
  await page.getByLabel('Name', { exact: true }).fill('greet');
  const body = page.getByLabel('Script', { exact: true });
  await body.fill('#!/bin/sh\nset -eu\necho "hello {{ vars.who }} from {{ appliance.name }}"\n');
  assert.equal(await page.locator('.code-frame .gutter').first().innerText(), '1\n2\n3\n4\n');
  await page.getByRole('button', { name: 'Create script' }).click();
  await until('the body error', async () => (await body.getAttribute('aria-invalid')) === 'true');
  const bodyError = await page.locator('[id="script-body-error"]').innerText();
  assert.match(bodyError, /line 3/, bodyError);
  assert.match(bodyError, /vars\.who/, bodyError);
  assert.equal(await page.locator('.gutter .marked').innerText(), '3\n');
  await shot('script-undeclared-variable');
  await page.getByRole('button', { name: 'Add variable' }).click();
  await page.locator('[id="var-0-name"]').fill('who');
  await page.locator('[id="var-0-default"]').fill('world');
  await page.getByRole('button', { name: 'Create script' }).click();
  await heading('greet');
  await page.locator('[data-version="1"]').waitFor({ timeout: DEADLINE_MS });
  const scriptPath = new URL(page.url()).pathname;
  // A second version.
  await body.fill('#!/bin/sh\nset -eu\necho "hello {{ vars.who }} from {{ appliance.name }}"\necho "layer {{ layer.name }}"\n');
  await page.getByRole('button', { name: 'Save as version 2' }).click();
  await page.getByText('Saved version 2.').waitFor({ timeout: DEADLINE_MS });
  await page.locator('[data-version="2"]').waitFor({ timeout: DEADLINE_MS });
  await shot('script-version-2');

  // 2. Try it: preview against an app server of the application, then run it there.
  await page.getByLabel('Project', { exact: true }).selectOption({ label: 'Web shop' });
  await page.getByLabel('Application', { exact: true }).selectOption({ label: 'Storefront' });
  const option = page.locator('.appliance-option').filter({ hasText: 'php' }).first();
  await option.waitFor({ timeout: DEADLINE_MS });
  const applianceName = (await option.locator('label').innerText()).split(' ')[0];
  await option.getByRole('checkbox').check();
  await page.getByLabel('who', { exact: true }).fill('{{ appliance.layer }} people');
  await page.getByRole('button', { name: 'Preview' }).click();
  const rendered = page.getByRole('region', { name: 'Rendered script' });
  await rendered.waitFor({ timeout: DEADLINE_MS });
  assert.match(await rendered.innerText(), new RegExp(`hello app people from ${applianceName}`));
  assert.match(await rendered.innerText(), /layer app/);
  await page.getByRole('button', { name: 'Run on 1 appliance' }).click();
  const job = page.locator('.try .job');
  await until('the job to succeed', async () =>
    (await job.count()) === 1 && (await job.getAttribute('data-status', { timeout: 1000 })) === 'succeeded');
  assert.match(await job.innerText(), /exit code 0/);
  assert.match(await job.innerText(), /simulated: \d+ bytes run by \/bin\/sh/);
  await shot('script-run');

  // 3. The application's rules: the default load-balancer wiring is there.
  await page.getByRole('link', { name: 'Projects', exact: true }).click();
  await page.getByRole('link', { name: 'Web shop' }).click();
  await heading('Web shop');
  await page.locator('[data-application="Storefront"]').getByRole('link', { name: 'Storefront' }).click();
  await heading('Storefront');
  assert.equal(await page.title(), 'Application · ScaleInfra');
  const appPath = new URL(page.url()).pathname;
  await page.getByRole('link', { name: 'Rules', exact: true }).click();
  const wiring = page.locator('article.rule').filter({ hasText: 'default wiring' });
  await until('the four default rules', async () => (await wiring.count()) === 4);
  // their steps name their scripts once the scripts are read
  await until('the default rules\' scripts', async () =>
    /run haproxy-add-app-servers on role load_balancer/.test(await wiring.first().innerText()));

  // 4. A new rule: the opened form takes the focus; an expression naming an undeclared variable is
  // refused beside its value; then the rule is saved.
  await page.getByRole('button', { name: 'New rule' }).click();
  await until('the form to take the focus', () => page.evaluate(() => document.activeElement?.id === 'rule-new-form-title'));
  await page.getByLabel('Name', { exact: true }).fill('Greet new app servers');
  await page.getByLabel('Event', { exact: true }).selectOption('appliance.came_alive');
  await page.getByLabel('Layer', { exact: true }).selectOption('app');
  await page.locator('[id="rule-new-step-0-script"]').selectOption({ label: 'greet (yours, v2)' });
  const who = page.locator('[id="rule-new-step-0-var-who"]');
  await who.fill('{{ vars.nobody }}');
  await page.getByRole('button', { name: 'Create rule' }).click();
  await until('the value error', async () => (await who.getAttribute('aria-invalid')) === 'true');
  assert.match(await page.locator('[id="rule-new-step-0-var-who-error"]').innerText(), /nobody/);
  await shot('rule-bad-expression');
  await who.fill('{{ event.appliance.name }}');
  await page.getByRole('button', { name: 'Create rule' }).click();
  const rule = page.locator('article.rule[data-rule="Greet new app servers"]');
  await rule.waitFor({ timeout: DEADLINE_MS });
  // the closed form gives the focus back to the button that opened it
  await until('the focus back on "New rule"', () =>
    page.evaluate(() => document.activeElement?.textContent?.trim() === 'New rule'));
  assert.match(await rule.innerText(), /appliance\.came_alive on layer app/);
  assert.match(await rule.innerText(), /run greet on the event's appliance/);
  await shot('rule-created');

  // 5. Scale the app group out by one; the new appliance comes alive and the rule runs for it.
  // The overview follows the application's live stream: no reload, no polling.
  await page.getByRole('link', { name: 'Overview', exact: true }).click();
  await until('the live stream', async () => (await page.locator('[data-link="live"]').count()) === 1);
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.getByLabel('Desired size of php').fill('2');
  const sized = Date.now();
  await page.locator('tr[data-group="php"]').getByRole('button', { name: 'Set size' }).click();
  await until('the second php appliance shown', async () =>
    (await page.locator('tr[data-appliance]').filter({ hasText: 'php' }).count()) === 2, 30_000);
  await until('two php appliances running', async () =>
    (await page.locator('tr[data-appliance][data-state="running"]').filter({ hasText: 'php' }).count()) === 2, 30_000);
  figures.scale_out_shown_running_ms = Date.now() - sized;
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the stream updated the page in place');
  await until('the came-alive event in the history', async () =>
    (await page.locator('li[data-event="appliance.came_alive"]').count()) >= 1);
  await until('the group counts two running', async () =>
    (await page.locator('tr[data-group="php"] td').nth(1).innerText()) === '2');
  await shot('scaled-out');
  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  const run = page.locator('details.run[data-rule="Greet new app servers"]');
  await until('the rule\'s run to succeed', async () =>
    (await run.count()) === 1 && (await run.getAttribute('data-status', { timeout: 1000 })) === 'succeeded', 30_000);
  assert.equal(await run.count(), 1, 'one run: the rule came after the first app server');
  await run.locator('> summary').click();
  const runJob = run.locator('.job');
  await until('the run\'s job', async () =>
    (await runJob.count()) === 1 && (await runJob.getAttribute('data-status', { timeout: 1000 })) === 'succeeded');
  await runJob.getByText('Script as run').click();
  const asRun = await runJob.getByRole('region', { name: 'Script as run' }).innerText();
  assert.match(asRun, /hello php-\S+ from php-\S+/, asRun);
  await shot('rule-run');
  // The default wiring ran for the new app server too: the load balancer was told.
  assert.ok(await page.locator('details.run[data-rule^="Add app servers"][data-status="succeeded"]').count() >= 1);
  await logout();

  // 6. A user assigned to the project: sees the application, its rules and runs; reads the scripts
  // but has no editor to save with and no "New script".
  const UMA = { email: 'uma@initech.example', password: 'Lilac-Quarry-Signal-35', name: 'Uma User' };
  // (signing out in the browser ended the admin's access tokens: a new API session)
  const admin = await api(IVY);
  const uma = await admin('POST', '/users', { ...UMA, role: 'user' });
  await admin('PUT', `/projects/${shop.id}/members/${uma.id}`);
  await login(UMA);
  await heading('My projects');
  await page.getByRole('link', { name: 'Web shop' }).click();
  await heading('Web shop');
  await page.locator('[data-application="Storefront"]').getByRole('link', { name: 'Runs' }).click();
  await heading('Storefront');
  await page.locator('details.run[data-rule="Greet new app servers"]').waitFor({ timeout: DEADLINE_MS });
  await page.getByRole('link', { name: 'CloudScripts', exact: true }).click();
  await heading('CloudScripts');
  assert.equal(await page.getByRole('link', { name: 'New script' }).count(), 0);
  await page.locator('tr[data-script="greet"]').getByRole('link', { name: 'greet' }).click();
  await heading('greet');
  await page.getByText("Your organisation's admins change its scripts").waitFor({ timeout: DEADLINE_MS });
  assert.equal(await page.getByRole('button', { name: /^Save as version/ }).count(), 0);
  assert.ok(await page.getByLabel('Script', { exact: true }).evaluate((t) => t.readOnly), 'the script is read-only');
  await shot('user-reads-script');
  await logout();

  // 7. Another tenant's admin: the application is not found, and neither is the script.
  await login(HAL);
  await heading('Projects');
  await page.goto(`${base}${appPath}`);
  await alertSays(/^It does not exist, or you cannot see it\.$/);
  await shot('other-tenant-application');
  await page.goto(`${base}${scriptPath}`);
  await alertSays(/^It does not exist, or you cannot see it\.$/);
  await logout();

  assert.deepEqual(foreignRequests, [], 'nothing is fetched from outside');
  assert.deepEqual(consoleErrors.filter((e) => !/status of (401|404|409|422|429)/.test(e)), [],
    'no console errors (the refused requests of the test aside)');
});

test('the operator kills a host on the pools page; the tenant\'s overview shows the lost appliance replaced, live', async () => {
  const UNA = { email: 'una@umbrella.example', password: 'Ginger-Falcon-Meadow-83', name: 'Una Umbrella' };
  // An operator of its own for the browser (the first one has used up its logins of this minute).
  const OLLIE = { email: 'ollie@provider.example', password: 'Tundra-Saddle-Lichen-46', name: 'Ollie Operator' };
  const operator = await api(OPERATOR, { reuse: true });
  await operator('POST', '/users', { ...OLLIE, role: 'operator' });
  await operator('POST', '/tenants', { name: 'Umbrella', slug: 'umbrella', admin: UNA });
  const call = await api(UNA);
  const project = await call('POST', '/projects', { name: 'Clinic', description: '' });
  const php = (await call('GET', '/templates?limit=500')).items.find((t) => t.role === 'app_server' && /PHP/.test(t.name));
  const app = await call('POST', `/projects/${project.id}/applications`, { name: 'Records' });
  const shape = await call('POST', `/applications/${app.id}/layers`, { name: 'app' });
  await call('POST', `/layers/${shape.layers[0].id}/groups`, { name: 'php', template_id: php.id, size: { desired: 2, min: 1, max: 4 } });
  await call('POST', `/applications/${app.id}/deploy`, {});
  const running = async () => (await call('GET', `/applications/${app.id}/appliances?limit=500`)).items
    .filter((a) => a.state === 'running');
  const before = await until('two running appliances', async () => { const r = await running(); return r.length === 2 && r; }, 30_000);

  // The tenant's admin watches the application's overview.
  if (await page.getByRole('button', { name: 'Log out' }).count()) await logout();
  await page.goto(`${base}/applications/${app.id}`);
  await login(UNA);
  await heading('Records');
  await until('the live stream', async () => (await page.locator('[data-link="live"]').count()) === 1);
  await until('both appliances running on the page', async () =>
    (await page.locator('tr[data-appliance][data-state="running"]').count()) === 2);
  await page.evaluate(() => { window.__sameDocument = true; });

  // The operator, in a browser of their own, kills the host of one of them from the pools page.
  const victim = before[0];
  const host = await operator('GET', `/hosts/${victim.host_id}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const op = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    op.on('pageerror', (e) => consoleErrors.push(String(e)));
    await op.goto(`${base}/login`);
    await op.getByLabel('Email').fill(OLLIE.email);
    await op.getByLabel('Password', { exact: true }).fill(OLLIE.password);
    await op.getByRole('button', { name: 'Sign in' }).click();
    await op.getByRole('link', { name: 'Pools and hosts' }).click();
    await op.getByRole('heading', { level: 1, name: 'Pools and hosts' }).waitFor({ timeout: DEADLINE_MS });
    assert.equal(await op.title(), 'Pools and hosts · ScaleInfra');
    const row = op.locator(`tr[data-host="${host.name}"]`);
    await row.waitFor({ timeout: DEADLINE_MS });
    assert.equal(await row.getAttribute('data-state'), 'up');
    // capacity in use is drawn as meters with their numbers
    assert.ok(await row.locator('meter').count() === 2, 'vCPU and memory meters');
    await op.locator('#sim-title').waitFor({ timeout: DEADLINE_MS });
    await op.screenshot({ path: join(OUT, `${String(++step).padStart(2, '0')}-pools.png`), fullPage: true });
    await row.getByRole('button', { name: 'Kill', exact: true }).click();
    // the confirmation takes the focus; Enter confirms
    await until('the focus on "Yes, kill"', () => op.evaluate(() => document.activeElement?.textContent?.trim() === 'Yes, kill'));
    await op.keyboard.press('Enter');
    await until('the host down', async () => ['down', 'fenced'].includes(await row.getAttribute('data-state')), 30_000);
    await op.screenshot({ path: join(OUT, `${String(++step).padStart(2, '0')}-host-killed.png`), fullPage: true });
  } finally {
    await browser.close();
  }

  // The tenant's page, never reloaded, shows the lost appliance replaced by a new one, running.
  const victimName = victim.name;
  await until('the lost appliance gone from the page', async () =>
    (await page.locator(`tr[data-appliance="${victimName}"]`).count()) === 0, 30_000);
  await until('two appliances running again', async () =>
    (await page.locator('tr[data-appliance][data-state="running"]').count()) === 2, 30_000);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the stream updated the page in place');
  await until('the replacement\'s came-alive event in the history', async () =>
    (await page.locator('li[data-event="appliance.came_alive"]').count()) >= 1);
  await shot('appliance-replaced-live');

  // The admin stops an appliance (after a confirmation) and starts it again; the row follows.
  const name = await page.locator('tr[data-appliance][data-state="running"]').first().getAttribute('data-appliance');
  const row = page.locator(`tr[data-appliance="${name}"]`);
  assert.equal(await row.getByRole('button', { name: 'Start', exact: true }).count(), 0, 'a running appliance offers no start');
  await row.getByRole('button', { name: 'Stop', exact: true }).click();
  await row.getByRole('button', { name: 'Yes, stop' }).click();
  await until('the appliance stopped', async () => (await row.getAttribute('data-state')) === 'stopped', 30_000);
  assert.equal(await row.getByRole('button', { name: 'Reboot', exact: true }).count(), 0, 'a stopped appliance offers no reboot');
  await shot('appliance-stopped');
  await row.getByRole('button', { name: 'Start', exact: true }).click();
  await until('the appliance running again', async () => (await row.getAttribute('data-state')) === 'running', 30_000);
  await logout();
  assert.deepEqual(consoleErrors.filter((e) => !/status of (401|404|409|422|429)/.test(e)), [],
    'no console errors (the refused requests of the test aside)');
});
