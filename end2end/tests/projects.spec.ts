// Projects: create one (slug derived from the name), a taken slug is refused,
// edit its description, delete it after confirming.
import {
  createOrg,
  expect,
  expectH1,
  expectNoPageErrors,
  openBrowser,
  screenshot,
  signUp,
  test,
  uniqueEmail,
  uniqueSlug,
  urlPath,
  visit,
} from './helpers';
import type { Locator, Page } from '@playwright/test';

/** The list item of the project named `name`. */
function projectItem(page: Page, name: string): Locator {
  return page.getByRole('listitem').filter({ has: page.getByRole('heading', { level: 3, name, exact: true }) });
}

test('projects: create, refuse a taken slug, edit, delete', async ({ page }) => {
  const slug = uniqueSlug();
  await signUp(page, uniqueEmail('projects'));
  await expect(page).toHaveURL(urlPath('/new'));
  await createOrg(page, 'E2E Projects Org', slug);

  await visit(page, `/${slug}/projects`);
  await expectH1(page, 'Projects');
  await expect(page).toHaveTitle(/Projects/);
  await expect(page.getByText('No projects yet')).toBeVisible();

  // An empty slug is derived from the name.
  await page.getByLabel('Name', { exact: true }).fill('Website Redesign');
  await page.getByRole('button', { name: 'Create project' }).click();
  const item = projectItem(page, 'Website Redesign');
  await expect(item).toHaveCount(1);
  await expect(item.locator('code')).toHaveText('website-redesign');
  await expect(item.locator('time')).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
  await expect(page.getByText('No projects yet')).toHaveCount(0);
  await expect(page.getByLabel('Name', { exact: true })).toHaveValue('');

  // The same slug again: refused, next to the Slug field.
  await page.getByLabel('Name', { exact: true }).fill('Website Redesign Again');
  await page.getByLabel('Slug', { exact: true }).fill('website-redesign');
  await page.getByRole('button', { name: 'Create project' }).click();
  const alert = page.getByRole('alert').filter({ hasText: /slug/i });
  await expect(alert).toBeVisible();
  await expect(page.getByLabel('Slug', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(projectItem(page, 'Website Redesign Again')).toHaveCount(0);

  // Edit the description.
  await item.locator('summary', { hasText: 'Edit' }).click();
  const description = item.getByLabel('Description of Website Redesign');
  await expect(description).toHaveValue('');
  await expect(item.getByLabel('Name of Website Redesign')).toHaveValue('Website Redesign');
  await expect(item.getByLabel('Slug of Website Redesign')).toHaveValue('website-redesign');
  await description.fill('New landing pages and a lighter checkout.');
  await item.getByRole('button', { name: 'Save changes' }).click();
  await expect(projectItem(page, 'Website Redesign')).toContainText('New landing pages and a lighter checkout.');
  // Saved: the row is shown afresh, its edit form closed.
  await expect(item.getByRole('button', { name: 'Save changes' })).toBeHidden();
  await expect(projectItem(page, 'Website Redesign').locator('code')).toHaveText('website-redesign');
  await screenshot(page, 'projects');
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await screenshot(page, 'projects-phone');
  await page.setViewportSize({ width: 1280, height: 720 });

  // Delete, after confirming.
  await item.locator('summary', { hasText: 'Delete' }).click();
  await item.getByRole('button', { name: 'Confirm: delete Website Redesign' }).click();
  await expect(projectItem(page, 'Website Redesign')).toHaveCount(0);
  await expect(page.getByText('No projects yet')).toBeVisible();
});

test('projects without JavaScript: create, refuse a taken slug, edit, delete', async ({ browser }) => {
  const { context, page, errors } = await openBrowser(browser, { javaScriptEnabled: false });
  try {
    const slug = uniqueSlug();
    await signUp(page, uniqueEmail('nojs-projects'), { js: false });
    await expect(page).toHaveURL(urlPath('/new'));
    await createOrg(page, 'No Script Projects', slug);

    await page.goto(`/${slug}/projects`);
    await expectH1(page, 'Projects');
    await page.getByLabel('Name', { exact: true }).fill('Launch Plan');
    await page.getByRole('button', { name: 'Create project' }).click();
    await expect(page).toHaveURL(urlPath(`/${slug}/projects`));
    const item = projectItem(page, 'Launch Plan');
    await expect(item.locator('code')).toHaveText('launch-plan');

    await page.getByLabel('Name', { exact: true }).fill('Launch Plan Two');
    await page.getByLabel('Slug', { exact: true }).fill('launch-plan');
    await page.getByRole('button', { name: 'Create project' }).click();
    await expect(page.getByRole('alert').filter({ hasText: /slug/i })).toBeVisible();
    await expect(projectItem(page, 'Launch Plan Two')).toHaveCount(0);

    await item.locator('summary', { hasText: 'Edit' }).click();
    await item.getByLabel('Description of Launch Plan').fill('Dates, owners and the checklist.');
    await item.getByRole('button', { name: 'Save changes' }).click();
    await expect(projectItem(page, 'Launch Plan')).toContainText('Dates, owners and the checklist.');
    await screenshot(page, 'projects-no-js');

    await item.locator('summary', { hasText: 'Delete' }).click();
    await item.getByRole('button', { name: 'Confirm: delete Launch Plan' }).click();
    await expect(page).toHaveURL(urlPath(`/${slug}/projects`));
    await expect(projectItem(page, 'Launch Plan')).toHaveCount(0);
    await expect(page.getByText('No projects yet')).toBeVisible();
    expectNoPageErrors(errors);
  } finally {
    await context.close();
  }
});
