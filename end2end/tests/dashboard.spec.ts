// A new user signs up, creates an organization, walks through every page
// of the dashboard, signs out and signs back in.
import {
  SECTIONS,
  createOrg,
  expect,
  expectH1,
  hydrated,
  screenshot,
  signIn,
  signUp,
  test,
  uniqueEmail,
  uniqueSlug,
  urlPath,
  visit,
} from './helpers';

test('sign up, create an org, visit every section, sign out and back in', async ({ page }) => {
  // Eleven full page loads of a debug server, each with its screenshot.
  test.setTimeout(120_000);
  const email = uniqueEmail('owner');
  const slug = uniqueSlug();

  await signUp(page, email);
  await expect(page).toHaveURL(urlPath('/new'));
  await screenshot(page, 'new-org');

  await createOrg(page, 'E2E Dashboard Org', slug);

  // The frame: sidebar, org switcher, sign-out button.
  const nav = page.getByRole('navigation', { name: 'Organization' });
  await expect(nav).toBeVisible();
  await expect(page.getByLabel('Switch organization').first()).toBeAttached();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();

  // The overview's Credits card: the new org's monthly grant and its
  // package, and a way to the billing page.
  const credits = page.getByRole('link', { name: /Credits/ });
  await expect(credits.getByTestId('overview-credits')).toHaveText('100');
  await expect(credits).toContainText('Personal package');
  await credits.click();
  await expect(page).toHaveURL(urlPath(`/${slug}/billing`));
  await expectH1(page, 'Billing');
  await visit(page, `/${slug}`);

  // Client-side navigation through the hydrated router.
  await nav.getByRole('link', { name: 'Agents', exact: true }).click();
  await expect(page).toHaveURL(urlPath(`/${slug}/agents`));
  await expectH1(page, 'Agents');
  // The e2e server has one provider (xtask's E2E_CONFIG).
  await expect(page.getByRole('heading', { name: 'Create an agent' })).toBeVisible();

  // Every link of the sidebar, each as a full page load.
  const pages = [
    ...SECTIONS.map(([name, subpath]) => [name, `/${slug}${subpath}`] as const),
    ['Security', '/settings/security'] as const,
  ];
  for (const [name, href] of pages) {
    await visit(page, `/${slug}`);
    const link = page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name, exact: true });
    await expect(link, `sidebar link ${name}`).toHaveAttribute('href', href);
    await visit(page, href);
    await expectH1(page, name);
    await screenshot(page, name.toLowerCase());
  }

  // Sign out, fail once, sign back in.
  await visit(page, `/${slug}`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(urlPath('/login'));
  await hydrated(page);
  await expectH1(page, 'Sign in');
  await screenshot(page, 'login');

  await signIn(page, email, 'not the password');
  await expect(page.getByRole('alert')).toContainText('Invalid email or password');
  await expect(page).toHaveURL(urlPath('/login'));
  await screenshot(page, 'login-error');

  await visit(page, '/login');
  await signIn(page, email);
  await expect(page).toHaveURL(urlPath(`/${slug}`));
  await expectH1(page, 'Overview');
});

test('an unknown page answers 404 with its own page', async ({ page }) => {
  // Signed in, so the answer cannot be a redirect to /login.
  await signUp(page, uniqueEmail('lost'));
  await expect(page).toHaveURL(urlPath('/new'));

  const response = await page.goto('/this-org-does-not-exist');
  expect(response?.status()).toBe(404);
  await expectH1(page, 'Page not found');
  await screenshot(page, 'not-found');
});
