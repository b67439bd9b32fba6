// Shared steps of the end-to-end tests: unique users and orgs, waiting for
// hydration, screenshots, and failing on uncaught errors in the page.
import { test as base, expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import * as path from 'node:path';

export { expect };

export const PASSWORD = 'correct horse battery';

/** The sidebar sections of an org and their paths below `/<slug>`. */
export const SECTIONS: ReadonlyArray<readonly [name: string, subpath: string]> = [
  ['Overview', ''],
  ['Agents', '/agents'],
  ['Projects', '/projects'],
  ['Schedules', '/schedules'],
  ['Skills', '/skills'],
  ['Connectors', '/connectors'],
  ['Notifications', '/notifications'],
  ['Billing', '/billing'],
  ['Developers', '/developers'],
  ['Members', '/members'],
];

function randomSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

export function uniqueEmail(who: string): string {
  return `${who}-${randomSuffix()}@example.test`;
}

/** 3–40 lowercase letters, digits or dashes. */
export function uniqueSlug(): string {
  return `e2e-${randomSuffix()}`;
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A URL whose path is exactly `pathname` (any query string). */
export function urlPath(pathname: string): RegExp {
  return new RegExp(`^[^?#]*//[^/]+${escapeRegExp(pathname)}(\\?.*)?$`);
}

/** Saved under end2end/screenshots/ and kept as an artifact of the run. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({
    path: path.join(__dirname, '..', 'screenshots', `${name}.png`),
    fullPage: true,
  });
}

// Leptos's hydration script imports /pkg/alumia.js, then calls its exported
// `hydrate()`. Playwright serves that module with `hydrate` wrapped so the
// page records when hydration has finished: clicks on JS-enhanced forms
// before that would fall back to plain form posts.
const HYDRATION_HOOK = `
;try {
  const __e2eHydrate = hydrate;
  hydrate = function (...args) {
    const result = __e2eHydrate.apply(this, args);
    window.__e2eHydrated = true;
    return result;
  };
} catch (error) {
  console.error('e2e: could not wrap hydrate()', error);
}
`;

// Every dashboard page keeps the live notifications stream open, so the
// network is never idle and `hydrated()` could not wait for it. Tests that
// do not look at live notifications answer the stream 204 No Content,
// which closes an EventSource for good; `liveNotifications` lets it through.
const NOTIFICATION_STREAM = /\/api\/v1\/notifications\/stream/;

async function quietNotifications(context: BrowserContext): Promise<void> {
  await context.route(NOTIFICATION_STREAM, (route) => route.fulfill({ status: 204 }));
}

/** Let the pages of `context` follow new notifications live (then wait
 *  with `visitLive`: the network stays busy). */
export async function liveNotifications(context: BrowserContext): Promise<void> {
  await context.unroute(NOTIFICATION_STREAM);
}

/** `visit` for pages with the live stream open. The frame opens the stream
 *  once the page (its lazy chunk included) has hydrated: that request is
 *  the sign, as the network never goes idle. */
export async function visitLive(page: Page, url: string): Promise<void> {
  const streamOpened = page.waitForRequest(NOTIFICATION_STREAM, { timeout: 20_000 });
  const response = await page.goto(url);
  expect(response!.status(), `HTTP status of ${url}`).toBe(200);
  await streamOpened;
  await page.waitForFunction(() => (window as { __e2eHydrated?: boolean }).__e2eHydrated === true, undefined, {
    timeout: 20_000,
  });
}

async function trackHydration(context: BrowserContext): Promise<void> {
  await quietNotifications(context);
  await context.route(/\/pkg\/alumia\.js(\?.*)?$/, async (route) => {
    const response = await route.fetch();
    const body = await response.text();
    await route.fulfill({
      status: response.status(),
      contentType: 'text/javascript; charset=utf-8',
      headers: { 'cache-control': 'no-store' },
      body: response.ok() ? body + HYDRATION_HOOK : body,
    });
  });
}

// Every page runs under the server's Content-Security-Policy; anything it
// refuses (an inline script or style, a foreign origin) is reported here
// and fails the test, so no page ships a violation.
const CSP_LISTENER = `
document.addEventListener('securitypolicyviolation', (e) => {
  window.__e2eCspViolation(
    e.effectiveDirective + ' refused ' + (e.blockedURI || 'inline') + ' at ' + location.pathname +
      (e.sourceFile ? ' (' + e.sourceFile + ':' + e.lineNumber + ')' : ''),
  );
}, true);
`;

async function trackCspViolations(context: BrowserContext, onViolation: (text: string) => void): Promise<void> {
  await context.exposeBinding('__e2eCspViolation', (_source, text: string) => onViolation(text));
  await context.addInitScript(CSP_LISTENER);
}

/** Wait until the wasm has hydrated the current document. */
export async function hydrated(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
  await page.waitForFunction(() => (window as { __e2eHydrated?: boolean }).__e2eHydrated === true, undefined, {
    timeout: 20_000,
  });
}

/** Open `url` with a full page load, expect `status`, wait for hydration. */
export async function visit(page: Page, url: string, status = 200): Promise<void> {
  const response = await page.goto(url);
  expect(response, `no response for ${url}`).not.toBeNull();
  expect(response!.status(), `HTTP status of ${url}`).toBe(status);
  await hydrated(page);
}

/** Uncaught exceptions (a wasm panic, a failed hydration) fail the test. */
function collectErrors(page: Page): Error[] {
  const errors: Error[] = [];
  page.on('pageerror', (error) => errors.push(error));
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`[browser console error] ${message.text()}`);
  });
  return errors;
}

export function expectNoPageErrors(errors: Error[]): void {
  expect(errors.map((e) => `${e.name}: ${e.message}`), 'uncaught errors in the page').toEqual([]);
}

/** A second, independent browser (own cookies), e.g. another user. */
export async function openBrowser(
  browser: Browser,
  options: { javaScriptEnabled?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page; errors: Error[] }> {
  const context = await browser.newContext({
    baseURL: base.info().project.use.baseURL,
    ...options,
  });
  await trackHydration(context);
  const page = await context.newPage();
  const errors = collectErrors(page);
  // Violations fail the test wherever the caller checks the page's errors.
  await trackCspViolations(context, (text) => errors.push(new Error(`CSP violation: ${text}`)));
  return { context, page, errors };
}

export const test = base.extend<{ pageErrors: Error[]; cspViolations: string[] }>({
  context: async ({ context }, use) => {
    await trackHydration(context);
    await use(context);
  },
  cspViolations: [
    async ({ context }, use) => {
      const violations: string[] = [];
      await trackCspViolations(context, (text) => violations.push(text));
      await use(violations);
      expect(violations, 'Content-Security-Policy violations').toEqual([]);
    },
    { auto: true },
  ],
  // Every test's main page fails on uncaught errors, without asking.
  pageErrors: [
    async ({ page }, use) => {
      const errors = collectErrors(page);
      await use(errors);
      expectNoPageErrors(errors);
    },
    { auto: true },
  ],
});

/** Sign up on /signup; with JavaScript the form is used once hydrated. */
export async function signUp(page: Page, email: string, { js = true } = {}): Promise<void> {
  if (js) await visit(page, '/signup');
  else await page.goto('/signup');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Create your account');
  await fillSignUp(page, email);
}

/** Fill and submit the sign-up form already on screen. */
export async function fillSignUp(page: Page, email: string): Promise<void> {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** On /new: create an org and expect to land on its overview. */
export async function createOrg(page: Page, name: string, slug: string): Promise<void> {
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Create an organization');
  await page.getByLabel('Organization name').fill(name);
  await page.getByLabel('Slug').fill(slug);
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page).toHaveURL(urlPath(`/${slug}`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Overview');
}

/** The one h1 of the page. */
export async function expectH1(page: Page, text: string): Promise<void> {
  const h1 = page.getByRole('heading', { level: 1 });
  await expect(h1).toHaveCount(1);
  await expect(h1).toHaveText(text);
}

/**
 * A platform authenticator for `page` (Chrome DevTools Protocol), as a
 * laptop's fingerprint reader would be: resident keys, user verification,
 * presence given without asking. Must exist before a ceremony starts, or
 * `navigator.credentials` waits forever.
 */
export async function addVirtualAuthenticator(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}

/** On /settings/security: add a passkey named `name`; the first one asks for the password. */
export async function addPasskey(page: Page, name: string, { first = true } = {}): Promise<void> {
  await page.getByLabel('Passkey name').fill(name);
  if (first) await page.getByLabel('Your password').first().fill(PASSWORD);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Passkey “${name}” added.` })).toBeVisible();
}

/** A new account with a passkey: the session is stepped up right after. */
export async function signUpWithPasskey(page: Page, email: string): Promise<void> {
  await addVirtualAuthenticator(page);
  await signUp(page, email);
  await expect(page).toHaveURL(urlPath('/new'));
  await visit(page, '/settings/security');
  await addPasskey(page, 'This laptop');
}

/** RFC 6238 (SHA-1, 6 digits, 30 s): what an authenticator app shows for `secret` (base32). */
export function totpCode(secret: string, at: number = Date.now()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

/**
 * Turns on an authenticator app for the signed-in user of `page` through
 * the server functions (works with JavaScript off in the page); the
 * session is stepped up afterwards. Answers the secret.
 */
export async function enrolTotpByRequest(page: Page): Promise<string> {
  const origin = base.info().project.use.baseURL!;
  const headers = { Origin: origin, Accept: 'application/json' };
  const started = await page.request.post('/fn/start_totp_enrolment', { form: { password: PASSWORD }, headers });
  expect(started.status()).toBe(200);
  const secret = (await started.json()).secret as string;
  const confirmed = await page.request.post('/fn/confirm_totp_enrolment', { form: { code: totpCode(secret) }, headers });
  expect(confirmed.status()).toBe(200);
  return secret;
}
