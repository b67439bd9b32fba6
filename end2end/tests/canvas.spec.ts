// The canvas (SPEC §15): blocks on a project's lab, an HTML block that
// runs in a sandbox without the dashboard's cookies, and a share link
// opened in a fresh browser without a session, then turned off.
import {
  createOrg,
  expect,
  expectH1,
  expectNoPageErrors,
  openBrowser,
  screenshot,
  signUpWithPasskey,
  test,
  uniqueEmail,
  uniqueSlug,
  visit,
} from './helpers';
import type { Locator, Page } from '@playwright/test';

/** Sharing needs a fresh step-up (30 s on the test server): when the
 *  dialog asks, the passkey answers, and the action runs again. */
async function confirmIfAsked(page: Page, done: Locator): Promise<void> {
  const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
  await expect(done.or(dialog)).toBeVisible();
  if (await dialog.isVisible()) {
    await dialog.getByRole('button', { name: 'Use your passkey' }).click();
    await expect(dialog).toBeHidden();
  }
  await expect(done).toBeVisible();
}

test('canvas: build it, share it, open the link signed out, stop sharing', async ({ page, browser }) => {
  const slug = uniqueSlug();
  await signUpWithPasskey(page, uniqueEmail('canvas'));
  await visit(page, '/new');
  await createOrg(page, 'E2E Canvas Org', slug);
  await visit(page, `/${slug}/projects`);
  await page.getByLabel('Name', { exact: true }).fill('Launch');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('link', { name: 'Launch' }).click();
  await expectH1(page, 'Launch');
  const canvas = page.getByTestId('canvas');
  await expect(canvas.getByTestId('canvas-empty')).toBeVisible();

  // A markdown block, then an HTML block whose script tries the cookies.
  const add = async (kind: string, content: string) => {
    // The form stays open after a block is added.
    if (!(await canvas.getByLabel('Kind').isVisible())) {
      await canvas.locator('summary', { hasText: 'Add a block' }).click();
    }
    await canvas.getByLabel('Kind').selectOption(kind);
    await canvas.getByLabel('Block content').fill(content);
    await canvas.getByRole('button', { name: 'Add block' }).click();
  };
  await add('markdown', '# Launch plan\n\n- book the venue\n- write the **invite**');
  await expect(canvas.getByRole('heading', { name: 'Launch plan' })).toBeVisible();
  await expect(canvas.locator('strong', { hasText: 'invite' })).toBeVisible();
  await add(
    'html',
    '<h2>Mockup</h2><p id="probe">waiting</p><script>' +
      "let seen; try { seen = 'cookies: ' + document.cookie.length; } catch (e) { seen = 'no cookies: ' + e.name; }" +
      "document.getElementById('probe').textContent = seen;</script>",
  );
  const frame = page.frameLocator('iframe[title="HTML block"]');
  await expect(frame.getByRole('heading', { name: 'Mockup' })).toBeVisible();
  // Its script ran, in an opaque origin: the dashboard's cookies are out of reach.
  await expect(frame.locator('#probe')).toHaveText('no cookies: SecurityError');
  await expect(canvas.getByTestId('block')).toHaveCount(2);
  await expect(canvas.getByTestId('block-author').first()).toHaveText('Written by a member');

  // Share: the link is shown once.
  await canvas.getByRole('button', { name: 'Share' }).click();
  const url = canvas.getByTestId('share-url');
  await confirmIfAsked(page, url);
  const link = await url.inputValue();
  expect(link).toMatch(/\/share\/[A-Za-z0-9_-]{43}$/);
  await expect(canvas.getByTestId('share-on')).toContainText('0 views');
  await screenshot(page, 'canvas-lab');

  // A fresh browser, no session: the canvas, read-only.
  const visitor = await openBrowser(browser);
  const shared = await visitor.page.goto(new URL(link).pathname);
  expect(shared?.status()).toBe(200);
  await expect(visitor.page.getByRole('heading', { name: 'Launch plan' })).toBeVisible();
  await expect(visitor.page.frameLocator('iframe[title="HTML block"]').locator('#probe')).toHaveText(
    'no cookies: SecurityError',
  );
  await expect(visitor.page.getByRole('button')).toHaveCount(0);
  await screenshot(visitor.page, 'canvas-shared');

  // Stop sharing: the same link is now the 404 page.
  await canvas.getByRole('button', { name: 'Stop sharing' }).click();
  await confirmIfAsked(page, canvas.getByTestId('share-off'));
  const gone = await visitor.page.goto(new URL(link).pathname);
  expect(gone?.status()).toBe(404);
  await expect(visitor.page.getByRole('heading', { name: 'This link does not work' })).toBeVisible();
  await screenshot(visitor.page, 'canvas-share-gone');
  expectNoPageErrors(visitor.errors);
  await visitor.context.close();
});
