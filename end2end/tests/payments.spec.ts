// Buying credits on the billing page with Stripe: a stand-in Stripe
// (fake-stripe.ts: its API, Stripe.js and signed webhooks) runs in this
// process, and this file starts an `alumia serve` of its own pointed at it
// (the server `cargo xtask test` starts has no Stripe). Needs ALUMIA_BIN
// and ALUMIA_SITE_ROOT, which xtask sets; by hand:
//   BASE_URL=http://localhost:1 ALUMIA_BIN=…/alumia ALUMIA_SITE_ROOT=…/site \
//     npx playwright test tests/payments.spec.ts
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConsoleMessage, Page } from '@playwright/test';
import { DECLINED_CARD, GOOD_CARD, startFakeStripe, type FakeStripe, type PaymentIntent } from './fake-stripe';
import {
  createOrg,
  expect,
  expectH1,
  screenshot,
  signUpWithPasskey,
  test,
  uniqueEmail,
  uniqueSlug,
  visit,
} from './helpers';

/** An `alumia serve` started by this file. */
interface Server {
  baseURL: string;
  port: number;
  dir: string;
  log: string;
  child: ChildProcess;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function readyzStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function tail(file: string, lines = 60): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts `alumia serve` as xtask does, with a fresh data dir and `extraEnv`; waits for /readyz. */
async function startServer(extraEnv: Record<string, string>): Promise<Server> {
  const bin = process.env.ALUMIA_BIN;
  const site = process.env.ALUMIA_SITE_ROOT;
  if (!bin || !site) {
    throw new Error('payments.spec.ts starts its own server: set ALUMIA_BIN and ALUMIA_SITE_ROOT (cargo xtask test does)');
  }
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alumia-e2e-payments-'));
  const log = path.join(dir, 'server.log');
  // Nothing of the outer server's settings (its data dir, database, config
  // file, billing) leaks into this one.
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('ALUMIA_') && key !== 'DATABASE_URL') env[key] = value;
  }
  Object.assign(env, {
    ALUMIA_DATA_DIR: path.join(dir, 'data'),
    ALUMIA_ADDR: `127.0.0.1:${port}`,
    // WebAuthn refuses IP addresses: the browser uses localhost.
    ALUMIA_PUBLIC_URL: `http://localhost:${port}`,
    ALUMIA_SITE_ROOT: site,
    DISABLE_RATE_LIMIT: '1',
    ALUMIA_STEP_UP_SECONDS: '30',
    NO_COLOR: '1',
    ...extraEnv,
  });
  const out = fs.openSync(log, 'a');
  const child = spawn(bin, ['serve'], { cwd: dir, env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const server = { baseURL: `http://localhost:${port}`, port, dir, log, child };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`alumia serve exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(log)}`);
    }
    if ((await readyzStatus(port)) === 200) return server;
    if (Date.now() > deadline) {
      await stopServer(server);
      throw new Error(`GET /readyz did not answer 200 within 60 s:\n${tail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopServer(server: Server): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

let fake: FakeStripe;
let server: Server;
let failed = false;
// If the worker dies without afterAll, do not leave the server running.
const killOnExit = () => server?.child.kill('SIGKILL');

// Started once, by whichever asks first: beforeAll, or the baseURL of the
// first test (Playwright sets up a test's baseURL before beforeAll runs).
let started: Promise<void> | undefined;
function start(): Promise<void> {
  started ??= (async () => {
    fake = await startFakeStripe();
    server = await startServer(fake.env());
    process.once('exit', killOnExit);
    fake.setWebhookUrl(`http://127.0.0.1:${server.port}/api/v1/webhooks/stripe`);
  })();
  return started;
}

test.beforeAll(async () => {
  test.setTimeout(90_000);
  await start();
});

test.afterAll(async () => {
  process.removeListener('exit', killOnExit);
  if (server) await stopServer(server);
  if (fake) await fake.close();
  if (server && !failed) fs.rmSync(server.dir, { recursive: true, force: true });
  else if (server) console.log(`payments.spec.ts: server data and log kept in ${server.dir}`);
  started = undefined;
});

// Pages of this file go to the server started above.
test.use({
  baseURL: async ({}, use) => {
    await start();
    await use(server.baseURL);
  },
});

// Console errors fail these tests, except those a test says it expects
// (the browser logs every 4xx answer, such as Stripe's 402 for a decline).
let consoleErrors: ConsoleMessage[] = [];
let expectedConsoleErrors: Array<(m: ConsoleMessage) => boolean> = [];

function expectConsoleError(matches: (m: ConsoleMessage) => boolean): void {
  expectedConsoleErrors.push(matches);
}

/** The browser's note on a failed request: "Failed to load resource: … status of `status`", from `url`. */
function failedLoad(urlPrefix: string, status: number): (m: ConsoleMessage) => boolean {
  return (m) => m.location().url.startsWith(urlPrefix) && m.text().includes(`status of ${status}`);
}

test.beforeEach(async ({ page }) => {
  consoleErrors = [];
  expectedConsoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m);
  });
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    failed = true;
    if (server) await testInfo.attach('alumia-server.log', { path: server.log, contentType: 'text/plain' });
    if (!fake) return;
    console.log(
      'stand-in Stripe saw:\n' +
        fake
          .requests()
          .map((r) => `  ${r.method} ${r.path}${r.query} -> ${r.status}`)
          .join('\n') +
        '\nwebhooks:\n' +
        fake
          .deliveries()
          .map((d) => `  ${d.type} ${d.objectId} -> ${d.status} ${d.body}`)
          .join('\n'),
    );
    await testInfo.attach('fake-stripe-requests.json', {
      body: JSON.stringify({ requests: fake.requests(), deliveries: fake.deliveries() }, null, 2),
      contentType: 'application/json',
    });
    return;
  }
  const unexpected = consoleErrors.filter((m) => !expectedConsoleErrors.some((ok) => ok(m)));
  expect(
    unexpected.map((m) => `${m.text()} (${m.location().url})`),
    'unexpected console errors',
  ).toEqual([]);
  expect(fake.unhandled(), 'requests the stand-in Stripe has no route for').toEqual([]);
});

/** A new user (with a passkey) and org, on the org's billing page. */
async function newOrgOnBilling(page: Page, who: string): Promise<string> {
  const slug = uniqueSlug();
  await signUpWithPasskey(page, uniqueEmail(who));
  await visit(page, '/new');
  await createOrg(page, `E2E ${who} ${slug}`, slug);
  await visit(page, `/${slug}/billing`);
  await expectH1(page, 'Billing');
  // The Personal package's monthly grant arrives with the org.
  await expect(page.getByTestId('balance')).toHaveText(/^100\s*credits$/);
  await expect(page.getByTestId('package-name')).toHaveText('Personal');
  await expect(page.getByTestId('payments-not-configured')).toHaveCount(0);
  return slug;
}

/** The PaymentIntent the last action created: exactly one new one since `before`. */
function newIntent(before: number): PaymentIntent {
  const intents = fake.intents();
  expect(intents, 'PaymentIntents created at the stand-in Stripe').toHaveLength(before + 1);
  return intents[intents.length - 1];
}

function invoicesSection(page: Page) {
  return page.locator('section', { has: page.getByRole('heading', { name: 'Invoices and receipts' }) });
}

test('buying a credit pack with a card credits the org once Stripe confirms it', async ({ page }) => {
  const slug = await newOrgOnBilling(page, 'payer');
  const buy = page.locator('#buy');
  await expect(invoicesSection(page)).toContainText('None yet.');

  const before = fake.intents().length;
  await buy.getByRole('button', { name: '500 credits · $5' }).click();
  const form = page.getByTestId('payment-element');
  await expect(form.getByLabel('Card number')).toBeVisible();
  await expect(buy.getByRole('status')).toHaveText('Pay $5 for 500 credits below.');
  const intent = newIntent(before);
  expect(intent).toMatchObject({
    amount: 500,
    currency: 'usd',
    status: 'requires_payment_method',
    metadata: { credit_microunits: '500000000' },
  });
  expect(intent.metadata.org_id).toBeTruthy();
  // The org's Stripe customer was created for it, under an idempotency key.
  const creations = fake.requests().filter((r) => r.method === 'POST' && r.path.startsWith('/v1/'));
  expect(creations.length).toBeGreaterThanOrEqual(2);
  expect(creations.every((r) => !!r.idempotencyKey), 'every POST to Stripe has an Idempotency-Key').toBe(true);
  expect(fake.customers().find((c) => c.id === intent.customer)).toMatchObject({
    metadata: { org_id: intent.metadata.org_id },
  });

  await form.getByLabel('Card number').fill(GOOD_CARD);
  await form.getByLabel('Expiry').fill('12 / 34');
  await form.getByLabel('CVC').fill('123');
  await screenshot(page, 'billing-payment-form');
  await buy.getByRole('button', { name: 'Pay', exact: true }).click();
  await expect(buy.getByRole('status')).toHaveText(
    'Payment received. Your credits appear as soon as Stripe confirms it: reload this page in a moment.',
  );
  await expect(buy.getByRole('button', { name: 'Pay', exact: true })).toHaveCount(0);
  await expect(buy.getByRole('alert')).toHaveCount(0);

  // Stripe's signed webhook reaches the server, which asks Stripe about the
  // PaymentIntent and credits it.
  const delivery = await fake.webhookFor(intent.id);
  expect(delivery, 'the server accepted the payment_intent.succeeded webhook').toMatchObject({
    type: 'payment_intent.succeeded',
    status: 200,
  });
  expect(fake.intent(intent.id)).toMatchObject({ status: 'succeeded', amount_received: 500 });
  expect(fake.requests().some((r) => r.method === 'GET' && r.path === `/v1/payment_intents/${intent.id}`)).toBe(true);

  await visit(page, `/${slug}/billing`);
  await expect(page.getByTestId('balance')).toHaveText(/^600\s*credits$/);
  const buckets = page.getByRole('list', { name: 'Credit buckets' });
  await expect(buckets).toContainText('Monthly grant');
  await expect(buckets).toContainText('Credits that do not expire');
  const row = page.getByRole('row').filter({ hasText: intent.id });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('top up');
  await expect(row).toContainText('Bought for 5.00 USD');
  await expect(row.getByRole('cell').nth(2)).toHaveText(/^\+?500$/);
  const receipt = fake.invoices().find((i) => i.payment_intent === intent.id)!;
  const invoices = page.getByRole('list', { name: 'Invoices' });
  await expect(invoices.getByRole('listitem')).toHaveCount(1);
  await expect(invoices).toContainText(String(receipt.number));
  await expect(invoices).toContainText('$5 USD · paid');
  await expect(invoices.getByRole('link', { name: 'View' })).toHaveAttribute('href', String(receipt.hosted_invoice_url));
  await screenshot(page, 'billing-top-up');

  // Stripe sends events more than once: the same event again credits nothing.
  const again = await fake.resend(delivery.eventId);
  expect(again.status).toBe(200);
  await visit(page, `/${slug}/billing`);
  await expect(page.getByTestId('balance')).toHaveText(/^600\s*credits$/);
  await expect(page.getByRole('row').filter({ hasText: intent.id })).toHaveCount(1);
});

test('a declined card credits nothing; another amount mounts a new payment form', async ({ page }) => {
  const slug = await newOrgOnBilling(page, 'declined');
  const buy = page.locator('#buy');
  const form = page.getByTestId('payment-element');

  const before = fake.intents().length;
  await buy.getByRole('button', { name: '2000 credits · $20' }).click();
  await expect(buy.getByRole('status')).toHaveText('Pay $20 for 2000 credits below.');
  const declined = newIntent(before);
  expect(declined).toMatchObject({ amount: 2000, metadata: { credit_microunits: '2000000000' } });

  // Stripe answers a decline with 402, which the browser logs.
  expectConsoleError(failedLoad(`${fake.base}test/confirm`, 402));
  await form.getByLabel('Card number').fill(DECLINED_CARD);
  await form.getByLabel('Expiry').fill('12 / 34');
  await form.getByLabel('CVC').fill('123');
  await buy.getByRole('button', { name: 'Pay', exact: true }).click();
  await expect(buy.getByRole('alert')).toHaveText('Your card was declined.');
  await expect(buy.getByRole('status')).toHaveCount(0);
  await screenshot(page, 'billing-card-declined');
  // The form stays for another card.
  await expect(buy.getByRole('button', { name: 'Pay', exact: true })).toBeEnabled();
  await expect(form.getByLabel('Card number')).toBeVisible();
  expect(fake.intent(declined.id)).toMatchObject({ status: 'requires_payment_method', amount_received: 0 });

  // Another amount: dollars in, credits at 100 a dollar.
  await buy.getByLabel('Other amount (USD)').fill('25');
  await buy.getByRole('button', { name: 'Continue' }).click();
  await expect(buy.getByRole('status')).toHaveText('Pay $25 for 2500 credits below.');
  await expect(buy.getByRole('alert')).toHaveCount(0);
  const custom = newIntent(before + 1);
  expect(custom).toMatchObject({ amount: 2500, currency: 'usd', metadata: { credit_microunits: '2500000000' } });
  // Only the new PaymentIntent's form is on the page.
  await expect(form.getByTestId('fake-stripe-payment-form')).toHaveCount(1);
  await expect(form.getByLabel('Card number')).toHaveValue('');
  await expect(buy.getByRole('button', { name: 'Pay', exact: true })).toBeEnabled();

  // Nothing was paid: no webhook, no credits, no receipt.
  expect(fake.deliveries().filter((d) => d.objectId === declined.id || d.objectId === custom.id)).toEqual([]);
  await visit(page, `/${slug}/billing`);
  await expect(page.getByTestId('balance')).toHaveText(/^100\s*credits$/);
  await expect(page.getByRole('row').filter({ hasText: 'top up' })).toHaveCount(0);
  await expect(invoicesSection(page)).toContainText('None yet.');
});

// A retry of one purchase reuses its PaymentIntent (one idempotency key per
// choice), but once it is paid the same pack is a new purchase.
test('the same pack can be bought twice in one visit', async ({ page }) => {
  const slug = await newOrgOnBilling(page, 'twice');
  const buy = page.locator('#buy');
  const form = page.getByTestId('payment-element');
  const pack = buy.getByRole('button', { name: '500 credits · $5' });
  const pay = buy.getByRole('button', { name: 'Pay', exact: true });

  const before = fake.intents().length;
  await pack.click();
  await form.getByLabel('Card number').fill(GOOD_CARD);
  await pay.click();
  await expect(buy.getByRole('status')).toContainText('Payment received.');
  const first = newIntent(before);
  await fake.webhookFor(first.id);

  // The same pack again after paying: a new purchase.
  await pack.click();
  await expect(buy.getByRole('status')).toHaveText('Pay $5 for 500 credits below.');
  // A new purchase needs a new PaymentIntent.
  await expect.poll(() => fake.intents().length, { timeout: 5_000 }).toBe(before + 2);
  await form.getByLabel('Card number').fill(GOOD_CARD);
  await pay.click();
  await expect(buy.getByRole('status')).toContainText('Payment received.');
  // Paid: the card form is gone until the next purchase.
  await expect(form.getByLabel('Card number')).toHaveCount(0);
  await fake.webhookFor(newIntent(before + 1).id);
  await visit(page, `/${slug}/billing`);
  await expect(page.getByTestId('balance')).toHaveText(/^1,100\s*credits$/);
});

// Budgets need no Stripe, but a stepped-up owner: this file's users sign
// up with a passkey, which steps the session up.
test('an owner sets the monthly budget and removes it', async ({ page }) => {
  await newOrgOnBilling(page, 'budget');
  const field = page.getByLabel('Organization budget (credits a month)');
  await field.fill('250');
  await page.getByRole('button', { name: 'Save budget' }).click();
  const budgets = page.getByRole('list', { name: 'Budgets' });
  await expect(budgets).toContainText('Whole organization');
  await expect(budgets).toContainText('0 of 250 credits (0 %) · no alerts yet this month');
  await expect(budgets.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '0');
  await expect(field).toHaveValue('250');
  await screenshot(page, 'billing-budget');

  await field.fill('');
  await page.getByRole('button', { name: 'Save budget' }).click();
  await expect(page.getByText('No budgets: usage is limited by credits only.')).toBeVisible();
  await expect(budgets).toHaveCount(0);
});
