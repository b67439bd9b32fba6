// The billing page: balance by bucket, the 30-day usage chart, recent
// ledger entries, and the "payments not configured" state. A new org is on
// the built-in Personal package and gets its monthly grant at once; more
// credits come from the operator's CLI, run on the test server's own
// database. Buying credits with Stripe is payments.spec.ts.
import { execFileSync } from 'node:child_process';
import { createOrg, expect, expectH1, screenshot, signUp, test, uniqueEmail, uniqueSlug, urlPath, visit } from './helpers';

/** `alumia admin …` on the test server's database (xtask passes where it is). */
function admin(...args: string[]): void {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.ALUMIA_CONFIG;
  execFileSync(process.env.ALUMIA_BIN!, ['admin', ...args], { env, stdio: 'pipe' });
}

test('billing: balance, usage chart, ledger and the not-configured state', async ({ page }) => {
  const slug = uniqueSlug();
  await signUp(page, uniqueEmail('billing'));
  await expect(page).toHaveURL(urlPath('/new'));
  await createOrg(page, 'E2E Billing Org', slug);

  await visit(page, `/${slug}/billing`);
  await expectH1(page, 'Billing');
  // The Personal package's monthly grant arrives with the org.
  await expect(page.getByTestId('balance')).toHaveText(/^100\s*credits$/);
  await expect(page.getByTestId('package-name')).toHaveText('Personal');
  const buckets = page.getByRole('list', { name: 'Credit buckets' });
  await expect(buckets).toContainText('Monthly grant');
  await expect(page.getByText('No credits yet.')).toHaveCount(0);
  // This server has no Stripe: no way to pay online, and no pack buttons.
  await expect(page.getByTestId('payments-not-configured')).toContainText(
    'Online payments are not configured on this server',
  );
  await expect(page.getByRole('button', { name: /credits · \$/ })).toHaveCount(0);

  admin('grant-credits', '--org', slug, '--credits', '12.5', '--reason', 'e2e trial');
  await visit(page, `/${slug}/billing`);
  await expect(page.getByTestId('balance')).toHaveText(/^112\.5\s*credits$/);
  await expect(buckets).toContainText('Monthly grant');
  await expect(buckets).toContainText('Credits that do not expire');
  const chart = page.getByRole('img', { name: /Credits used per day from/ });
  await expect(chart).toBeVisible();
  await expect(chart.locator('rect')).toHaveCount(30);
  await expect(page.getByRole('row').filter({ hasText: 'e2e trial' })).toContainText('12.5');
  await screenshot(page, 'billing-with-credits');

  // A 402 anywhere in the dashboard shows the billing card. Nothing the
  // dashboard does yet is metered, so the server's 402 is played here, as
  // the server function would answer it.
  await page.route('**/fn/set_budget', (route) =>
    route.fulfill({
      status: 402,
      contentType: 'application/json',
      body: JSON.stringify({
        code: 'PAYMENT_REQUIRED',
        message: 'Not enough credits: buy credits or wait for the next monthly grant',
        details: { reason: 'no_credits' },
      }),
    }),
  );
  await page.getByLabel('Organization budget (credits a month)').fill('5');
  await page.getByRole('button', { name: 'Save budget' }).click();
  const card = page.getByTestId('billing-card');
  await expect(card).toContainText('Out of credits');
  await expect(card).toContainText('Not enough credits');
  await expect(card.getByRole('link', { name: 'Buy credits' })).toHaveAttribute('href', `/${slug}/billing#buy`);
  await screenshot(page, 'billing-card-402');
});
