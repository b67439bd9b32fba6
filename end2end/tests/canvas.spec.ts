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

  // Shared again: a new link, listed on the projects page with its views,
  // and revoked from there.
  await canvas.getByRole('button', { name: 'Share' }).click();
  await confirmIfAsked(page, url);
  const second = await url.inputValue();
  expect(second).not.toBe(link);
  expect((await visitor.page.goto(new URL(second).pathname))?.status()).toBe(200);
  await visit(page, `/${slug}/projects`);
  const list = page.getByTestId('shared-links');
  const row = list.getByTestId('shared-link');
  await expect(row).toHaveCount(1);
  await expect(row.getByRole('link', { name: 'Launch' })).toBeVisible();
  await expect(row.getByTestId('shared-link-views')).toHaveText('1');
  await expect(row).toContainText('Never');
  await screenshot(page, 'shared-links');
  await row.getByRole('button', { name: 'Revoke the link to Launch' }).click();
  await confirmIfAsked(page, list.getByTestId('no-shared-links'));
  expect((await visitor.page.goto(new URL(second).pathname))?.status()).toBe(404);
  expectNoPageErrors(visitor.errors);
  await visitor.context.close();
});

test('canvas: drag, resize and edit blocks in place; a reload keeps them', async ({ page }) => {
  // Places are set as CSSOM properties: the fixture fails the test on any
  // CSP violation (an inline style="" would be one).
  const slug = uniqueSlug();
  await signUpWithPasskey(page, uniqueEmail('board'));
  await visit(page, '/new');
  await createOrg(page, 'E2E Board Org', slug);
  await visit(page, `/${slug}/projects`);
  await page.getByLabel('Name', { exact: true }).fill('Board');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('link', { name: 'Board' }).click();
  await expectH1(page, 'Board');
  const canvas = page.getByTestId('canvas');
  await canvas.locator('summary', { hasText: 'Add a block' }).click();
  await canvas.getByLabel('Kind').selectOption('markdown');
  await canvas.getByLabel('Block content').fill('# Draft\n\nfirst words');
  await canvas.getByRole('button', { name: 'Add block' }).click();
  const block = canvas.getByTestId('block');
  await expect(block.getByRole('heading', { name: 'Draft' })).toBeVisible();

  // Where the block sits on the board, in board pixels.
  const board = canvas.getByTestId('blocks');
  const place = async () => {
    const [b, k] = [await board.boundingBox(), await block.boundingBox()];
    return { x: Math.round(k!.x - b!.x), y: Math.round(k!.y - b!.y), w: Math.round(k!.width), h: Math.round(k!.height) };
  };
  const start = await place();
  expect(start).toEqual({ x: 0, y: 0, w: 480, h: 320 });

  // Dragged by its title bar: it lands on the 10-pixel grid.
  const drag = async (grip: string, dx: number, dy: number) => {
    const handle = block.getByRole('button', { name: grip });
    await handle.scrollIntoViewIfNeeded();
    const box = (await handle.boundingBox())!;
    const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + dx / 2, y + dy / 2, { steps: 4 });
    await page.mouse.move(x + dx, y + dy, { steps: 4 });
    await page.mouse.up();
  };
  const saved = () => page.waitForResponse((r) => r.url().includes('/fn/update_block') && r.status() === 200);
  let stored = saved();
  await drag('Move the block', 153, 62);
  await stored;
  expect(await place()).toEqual({ x: 150, y: 60, w: 480, h: 320 });

  // Resized by its corner, then nudged with the keyboard.
  stored = saved();
  await drag('Resize the block', 98, -41);
  await stored;
  expect(await place()).toEqual({ x: 150, y: 60, w: 580, h: 280 });
  stored = saved();
  await block.getByRole('button', { name: 'Move the block' }).press('ArrowRight');
  await stored;
  expect(await place()).toEqual({ x: 160, y: 60, w: 580, h: 280 });

  // A save that does not go through puts the block back where the server
  // has it, and says so.
  await page.route('**/fn/update_block', (route) => route.abort('connectionrefused'));
  await drag('Move the block', 200, 0);
  await expect(canvas.getByRole('alert')).toBeVisible();
  expect(await place()).toEqual({ x: 160, y: 60, w: 580, h: 280 });
  await page.unroute('**/fn/update_block');

  // Edited in place: Escape keeps the old text, Save stores the new one.
  await block.getByRole('button', { name: 'Edit' }).click();
  const text = block.getByLabel("The block's content");
  await expect(text).toBeFocused();
  await text.fill('# Thrown away');
  await text.press('Escape');
  await expect(block.getByRole('heading', { name: 'Draft' })).toBeVisible();
  await block.getByRole('button', { name: 'Edit' }).click();
  await block.getByLabel("The block's content").fill('# Final plan\n\n- *one* list');
  await block.getByRole('button', { name: 'Save' }).click();
  await expect(block.getByRole('heading', { name: 'Final plan' })).toBeVisible();
  await expect(block.locator('em', { hasText: 'one' })).toBeVisible();
  await screenshot(page, 'canvas-board');

  // A reload shows it where it was left, with what was written.
  await visit(page, page.url());
  await expect(block.getByRole('heading', { name: 'Final plan' })).toBeVisible();
  expect(await place()).toEqual({ x: 160, y: 60, w: 580, h: 280 });
  // A wide screen has the canvas beside the chat.
  await page.setViewportSize({ width: 1680, height: 900 });
  const chat = (await page.getByRole('heading', { name: 'Chat' }).boundingBox())!;
  expect((await board.boundingBox())!.x).toBeGreaterThan(chat.x + chat.width);
  await screenshot(page, 'canvas-beside-chat');

  // Delete asks once more, then the block is gone.
  await block.getByRole('button', { name: 'Delete' }).click();
  await block.getByRole('button', { name: 'Keep' }).click();
  await expect(block).toHaveCount(1);
  await block.getByRole('button', { name: 'Delete' }).click();
  await block.getByRole('button', { name: 'Delete', exact: true }).last().click();
  await expect(canvas.getByTestId('canvas-empty')).toBeVisible();
});
