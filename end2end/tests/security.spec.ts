// Passkeys and TOTP in a real browser: register a passkey with Chrome's
// virtual authenticator, sign in with it, confirm a sensitive change in
// the step-up dialog (again once the window has passed), and set up an
// authenticator app from the secret the page shows.
import {
  addPasskey,
  addVirtualAuthenticator,
  createOrg,
  expect,
  expectH1,
  screenshot,
  signIn,
  signUp,
  signUpWithPasskey,
  test,
  totpCode,
  uniqueEmail,
  uniqueSlug,
  urlPath,
  visit,
} from './helpers';

// The end-to-end server runs with ALUMIA_STEP_UP_SECONDS=30 (xtask).
const STEP_UP_SECONDS = 30;

test('a passkey: register it, sign out, sign in with it', async ({ page, context }) => {
  await addVirtualAuthenticator(page);
  const email = uniqueEmail('passkey');
  await signUp(page, email);
  await expect(page).toHaveURL(urlPath('/new'));
  await visit(page, '/settings/security');
  await expectH1(page, 'Security');
  await expect(page.getByText('No passkeys yet.')).toBeVisible();

  // The first factor needs the password.
  await page.getByLabel('Passkey name').fill('Work laptop');
  await page.getByLabel('Your password').first().fill('not my password');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'That is not your password' })).toBeVisible();
  await addPasskey(page, 'Work laptop');
  await expect(page.getByRole('list', { name: 'Your passkeys' })).toContainText('Work laptop');
  await expect(page.getByText(/Confirmed with a second factor until/)).toBeVisible();
  await screenshot(page, 'security-passkey');

  // Signed out: this browser forgets its session (the authenticator stays).
  await context.clearCookies();
  await visit(page, '/login');
  await expectH1(page, 'Sign in');
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await expect(page).toHaveURL(urlPath('/new'));
  await visit(page, '/settings/security');
  await expect(page.getByText(`Signed in as ${email}`)).toBeVisible();
  await expect(page.getByRole('list', { name: 'Your passkeys' })).toContainText('last used');
});

test('minting a key asks for the passkey once the step-up has expired', async ({ page }) => {
  test.setTimeout(90_000);
  await signUpWithPasskey(page, uniqueEmail('stepup'));
  const slug = uniqueSlug();
  await visit(page, '/new');
  await createOrg(page, 'E2E Step-up Org', slug);
  await visit(page, `/${slug}/developers`);

  // Fresh from enrolling the passkey: no dialog.
  await page.getByLabel('Name', { exact: true }).fill('Right away');
  await page.getByRole('button', { name: 'Create API key' }).click();
  await expect(page.getByLabel('Your new API key')).toHaveValue(/^alm_test_/);

  await page.waitForTimeout((STEP_UP_SECONDS + 1) * 1000);
  await page.getByLabel('Name', { exact: true }).fill('After a while');
  await page.getByRole('button', { name: 'Create API key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
  await expect(dialog).toBeVisible();
  await screenshot(page, 'step-up-dialog');
  await dialog.getByRole('button', { name: 'Use your passkey' }).click();
  await expect(dialog).toBeHidden();
  // The action ran again with what was typed.
  await expect(page.getByText('API key “After a while” created')).toBeVisible();
  await expect(page.getByLabel('Your new API key')).toHaveValue(/^alm_test_/);
  await expect(page.getByRole('row').filter({ hasText: 'After a while' })).toHaveCount(1);
});

test('an authenticator app: set it up, then sign in with a code', async ({ page, context }) => {
  test.setTimeout(90_000);
  const email = uniqueEmail('totp');
  await signUp(page, email);
  await expect(page).toHaveURL(urlPath('/new'));
  await visit(page, '/settings/security');
  await page.getByLabel('Your password').last().fill('correct horse battery');
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await expect(page.getByRole('img', { name: 'QR code for your authenticator app' })).toBeVisible();
  const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]+=*$/);
  await screenshot(page, 'security-totp-enrol');
  await page.getByLabel('Code from the app').fill(totpCode(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.getByRole('list', { name: 'Recovery codes' });
  await expect(codes.getByRole('listitem')).toHaveCount(10);
  await screenshot(page, 'security-recovery-codes');

  await context.clearCookies();
  await visit(page, '/login');
  await signIn(page, email);
  await expect(page).toHaveURL(urlPath('/login/verify'));
  await expectH1(page, 'Two-step verification');
  await page.getByLabel('Code').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByText(/That code is not right/)).toBeVisible();
  // The enrolment used this step's code: wait for the next one.
  const step = Math.floor(Date.now() / 30_000);
  while (Math.floor(Date.now() / 30_000) === step) await page.waitForTimeout(500);
  await page.getByLabel('Code').fill(totpCode(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(urlPath('/new'));
});
