// An owner mints an API key on the Developers page: the secret is shown once,
// the list shows only its prefix, and the key can be revoked.
import {
  createOrg,
  enrolTotpByRequest,
  expect,
  expectH1,
  expectNoPageErrors,
  openBrowser,
  screenshot,
  signUp,
  signUpWithPasskey,
  test,
  totpCode,
  uniqueEmail,
  uniqueSlug,
  urlPath,
  visit,
} from './helpers';
import type { Locator, Page } from '@playwright/test';

/** The keys table row of the key named `name`. */
function keyRow(page: Page, name: string): Locator {
  return page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
}

test('API keys: mint one, see it once, list it by prefix, revoke it', async ({ page, context }) => {
  const slug = uniqueSlug();
  // Minting and revoking need a fresh step-up: enrolling a passkey is one.
  await signUpWithPasskey(page, uniqueEmail('dev'));
  await visit(page, '/new');
  await createOrg(page, 'E2E Developers Org', slug);

  await visit(page, `/${slug}/developers`);
  await expectH1(page, 'Developers');
  await expect(page).toHaveTitle(/Developers/);
  await expect(page.getByRole('link', { name: 'API reference' })).toHaveAttribute('href', '/api/docs');
  await expect(page.getByText(/No API keys yet/)).toBeVisible();

  await page.getByLabel('Name', { exact: true }).fill('CI key');
  await page.getByLabel('terminal (CLI device login)').check();
  await page.getByRole('button', { name: 'Create API key' }).click();

  // Shown once, in a read-only field, with the warning.
  const panel = page.getByRole('status').filter({ hasText: 'Your new API key' });
  await expect(panel).toBeVisible();
  await expect(panel).toContainText('Copy it now: it will not be shown again.');
  const field = page.getByRole('textbox', { name: 'Your new API key' });
  await expect(field).toHaveAttribute('readonly', '');
  const key = await field.inputValue();
  expect(key).toMatch(/^alm_test_[0-9a-f]{48}$/);
  // The form is empty again for the next key.
  await expect(page.getByLabel('Name', { exact: true })).toHaveValue('');

  // The Copy button puts it on the clipboard.
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await panel.getByRole('button', { name: 'Copy' }).click();
  await expect(panel).toContainText('Copied to the clipboard.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);

  // The list shows its prefix and scopes, never the secret.
  const row = keyRow(page, 'CI key');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(key.slice(0, 12));
  await expect(row).not.toContainText(key);
  await expect(row.getByRole('listitem').filter({ hasText: /^models:read$/ })).toHaveCount(1);
  await expect(row.getByRole('listitem').filter({ hasText: /^terminal$/ })).toHaveCount(1);
  await expect(row).toContainText('never');
  await expect(row).toContainText('Active');
  await expect(row.locator('time')).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
  await screenshot(page, 'developers-key-shown');

  // After a reload the secret is gone for good.
  await visit(page, `/${slug}/developers`);
  await expect(page.getByRole('textbox', { name: 'Your new API key' })).toHaveCount(0);
  expect(await page.content()).not.toContain(key);
  await expect(keyRow(page, 'CI key')).toContainText(key.slice(0, 12));

  // Revoke, after confirming.
  const revokeRow = keyRow(page, 'CI key');
  await revokeRow.locator('summary', { hasText: 'Revoke' }).click();
  await revokeRow.getByRole('button', { name: 'Confirm: revoke CI key' }).click();
  await expect(keyRow(page, 'CI key')).toContainText('Revoked');
  await expect(keyRow(page, 'CI key')).not.toContainText('Active');
  await expect(keyRow(page, 'CI key').locator('summary', { hasText: 'Revoke' })).toHaveCount(0);
  await screenshot(page, 'developers-list');

  // Phone width: the table scrolls inside its card, the page does not.
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await screenshot(page, 'developers-phone');
});

test('API keys without JavaScript: the key is shown after the redirect, and a stale step-up goes through the step-up page', async ({ browser }) => {
  test.setTimeout(120_000);
  const { context, page, errors } = await openBrowser(browser, { javaScriptEnabled: false });
  try {
    const slug = uniqueSlug();
    await signUp(page, uniqueEmail('nojs-dev'), { js: false });
    await expect(page).toHaveURL(urlPath('/new'));
    const secret = await enrolTotpByRequest(page);
    await createOrg(page, 'No Script Developers', slug);
    await page.goto(`/${slug}/developers`);
    await expectH1(page, 'Developers');
    await page.getByLabel('Name', { exact: true }).fill('No script key');
    await page.getByRole('button', { name: 'Create API key' }).click();
    await expect(page).toHaveURL(urlPath(`/${slug}/developers`));
    const key = await page.getByLabel('Your new API key').inputValue();
    expect(key).toMatch(/^alm_test_[0-9a-f]{48}$/);
    await expect(page.getByText('it will not be shown again')).toBeVisible();
    await expect(keyRow(page, 'No script key')).toContainText(key.slice(0, 12));
    await screenshot(page, 'developers-no-javascript-key');

    await page.reload();
    await expectH1(page, 'Developers');
    await expect(page.getByLabel('Your new API key')).toHaveCount(0);

    // Once the step-up has expired (30 s on the test server), the form
    // leads to the step-up page, which leads back to the form.
    await page.waitForTimeout(31_000);
    await page.getByLabel('Name', { exact: true }).fill('Later key');
    await page.getByRole('button', { name: 'Create API key' }).click();
    await expect(page).toHaveURL(urlPath('/step-up'));
    await expectH1(page, 'Confirm it is you');
    await screenshot(page, 'step-up-no-javascript');
    await page.getByLabel('Code').fill(totpCode(secret));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect(page).toHaveURL(urlPath(`/${slug}/developers`));
    await page.getByLabel('Name', { exact: true }).fill('Later key');
    await page.getByRole('button', { name: 'Create API key' }).click();
    await expect(page.getByText('API key “Later key” created')).toBeVisible();
    expectNoPageErrors(errors);
  } finally {
    await context.close();
  }
});

test('API reference: Scalar renders the document under its own policy', async ({ page }) => {
  // No sign-in: the reference is public. CSP violations fail the test
  // (helpers.ts), so Scalar must run with its script from /pkg only.
  const response = await page.goto('/api/docs');
  expect(response!.status()).toBe(200);
  expect(response!.headers()['content-security-policy']).toContain('/pkg/scalar.js');
  await expect(page.getByRole('heading', { name: /Alumia API/ }).first()).toBeVisible({ timeout: 20_000 });
  // Scalar renders sections as they scroll into view: the first one.
  await expect(page.getByText('/api/v1/dashboard/overview').first()).toBeVisible();
  await screenshot(page, 'api-reference');
});
