// Files (SPEC §16) in the lab: upload one, see it listed, show it on the
// canvas, download it through its short-lived link, delete it.
import * as fs from 'node:fs';
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

test('files: upload, show on the canvas, download and delete', async ({ page }) => {
  const slug = uniqueSlug();
  await signUpWithPasskey(page, uniqueEmail('files'));
  await visit(page, '/new');
  await createOrg(page, 'E2E Files Org', slug);
  await visit(page, `/${slug}/projects`);
  await page.getByLabel('Name', { exact: true }).fill('Research');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('link', { name: 'Research' }).click();
  await expectH1(page, 'Research');
  const files = page.getByTestId('files');
  await expect(files.getByTestId('files-empty')).toBeVisible();

  const contents = 'region,revenue\nnorth,120\nsouth,95\n';
  await files.getByTestId('file-input').setInputFiles({
    name: 'revenue.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from(contents),
  });
  await files.getByRole('button', { name: 'Upload' }).click();
  // The form posts the file and the lab comes back with it listed.
  const row = page.getByTestId('file-row').filter({ hasText: 'revenue.csv' });
  await expect(row).toBeVisible();
  await expect(row).toContainText('text/csv');
  await expect(row).toContainText(`${Buffer.byteLength(contents)} bytes`);

  await row.getByRole('button', { name: 'Show on the canvas' }).click();
  const block = page.getByTestId('canvas').getByTestId('file-block');
  await expect(block).toContainText('revenue.csv');
  await screenshot(page, 'files-lab');

  // The name links a download: the org check, then a link valid five minutes.
  const downloading = page.waitForEvent('download');
  await row.getByTestId('file-download').click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('revenue.csv');
  expect(fs.readFileSync(await download.path(), 'utf8')).toBe(contents);

  await row.getByRole('button', { name: 'Delete file' }).click();
  await expect(page.getByTestId('file-row')).toHaveCount(0);
  await expect(files.getByTestId('files-empty')).toBeVisible();
  await expect(block.or(page.getByText("This block's file was deleted."))).toContainText('deleted');
  await screenshot(page, 'files-deleted');
});
