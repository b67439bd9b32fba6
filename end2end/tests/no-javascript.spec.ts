// The account and org forms work as plain HTML forms: no JavaScript, no wasm.
import {
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
} from './helpers';

test('without JavaScript: sign up, a bad slug is refused, create an org', async ({ browser }) => {
  const { context, page, errors } = await openBrowser(browser, { javaScriptEnabled: false });
  try {
    await signUp(page, uniqueEmail('nojs'), { js: false });
    await expect(page).toHaveURL(urlPath('/new'));
    await expectH1(page, 'Create an organization');

    // A reserved slug: the server refuses it, the form comes back with the error.
    await page.getByLabel('Organization name').fill('No Script Org');
    await page.getByLabel('Slug').fill('api');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await expect(page.getByRole('alert').first()).toBeVisible();
    await expect(page).toHaveURL(urlPath('/new'));
    await expectH1(page, 'Create an organization');
    await screenshot(page, 'no-js-bad-slug');

    const slug = uniqueSlug();
    await page.getByLabel('Organization name').fill('No Script Org');
    await page.getByLabel('Slug').fill(slug);
    await page.getByRole('button', { name: 'Create organization' }).click();
    await expect(page).toHaveURL(urlPath(`/${slug}`));
    await expectH1(page, 'Overview');
    await screenshot(page, 'no-js-overview');
    expectNoPageErrors(errors);
  } finally {
    await context.close();
  }
});

test('with JavaScript: a malformed slug is refused with an alert', async ({ page }) => {
  await signUp(page, uniqueEmail('badslug'));
  await expect(page).toHaveURL(urlPath('/new'));
  await page.getByLabel('Organization name').fill('Bad Slug Org');
  await page.getByLabel('Slug').fill('A!');
  await page.getByRole('button', { name: 'Create organization' }).click();
  await expect(page.getByRole('alert').first()).toBeVisible();
  await expect(page).toHaveURL(urlPath('/new'));
  await screenshot(page, 'bad-slug');
});
