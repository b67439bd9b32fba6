// An owner invites someone with a link; the invitee signs up through it,
// accepts, and both appear on the Members page.
import {
  createOrg,
  expect,
  expectH1,
  expectNoPageErrors,
  fillSignUp,
  openBrowser,
  screenshot,
  signUp,
  signUpWithPasskey,
  test,
  uniqueEmail,
  uniqueSlug,
  urlPath,
  visit,
} from './helpers';
import type { Locator, Page } from '@playwright/test';

/** The members table row of `email`. */
function memberRow(page: Page, email: string): Locator {
  return page.getByRole('row').filter({ hasText: email });
}

/** The role a row shows: a plain cell, or the selected option of its role picker. */
async function expectRole(row: Locator, role: string): Promise<void> {
  const picker = row.getByRole('combobox');
  if ((await picker.count()) > 0) {
    await expect(picker).toHaveValue(role);
  } else {
    await expect(row).toContainText(role);
  }
}

test('invite link: a new user signs up through it and joins the org', async ({ page, browser }) => {
  const ownerEmail = uniqueEmail('owner');
  const inviteeEmail = uniqueEmail('invitee');
  const slug = uniqueSlug();

  // Creating invites needs a fresh step-up: enrolling a passkey is one.
  await signUpWithPasskey(page, ownerEmail);
  await visit(page, '/new');
  await createOrg(page, 'E2E Members Org', slug);

  await visit(page, `/${slug}/members`);
  await expectH1(page, 'Members');
  const ownerRow = memberRow(page, ownerEmail);
  await expect(ownerRow).toHaveCount(1);
  await expectRole(ownerRow, 'owner');

  await page.getByLabel('Role', { exact: true }).selectOption('member');
  await page.getByRole('button', { name: 'Create invite link' }).click();
  // The link is shown once, in a read-only field (or a <code>).
  const field = page.getByRole('textbox', { name: /invite link/i });
  const code = page.locator('code').filter({ hasText: '/invite/' });
  await expect(field.or(code).first()).toBeVisible();
  const inviteUrl =
    (await field.count()) > 0 ? await field.first().inputValue() : ((await code.first().textContent()) ?? '');
  expect(inviteUrl).toMatch(/\/invite\/[^/?#\s]+$/);
  await screenshot(page, 'members-invite');

  // The invitee, in a browser of their own.
  const invitee = await openBrowser(browser);
  try {
    const other = invitee.page;
    await visit(other, inviteUrl);
    await expectH1(other, 'Invitation');
    await screenshot(other, 'invite-signed-out');
    await other.getByRole('link', { name: 'Create account' }).click();
    await expect(other).toHaveURL(/\/signup\?/);
    await expectH1(other, 'Create your account');
    await fillSignUp(other, inviteeEmail);
    // Sign-up sends them back to the invitation (the path itself, not the
    // sign-up page whose `next` mentions it).
    await expect(other).toHaveURL(/^https?:\/\/[^/]+\/invite\/[^/?#]+$/);
    await expectH1(other, 'Invitation');

    // Not a member yet: the org does not exist for them.
    const forbidden = await other.goto(`/${slug}`);
    expect(forbidden?.status()).toBe(404);
    await expectH1(other, 'Page not found');

    await visit(other, inviteUrl);
    await expectH1(other, 'Invitation');
    await screenshot(other, 'invite-accept');
    await other.getByRole('button', { name: 'Accept invitation' }).click();
    await expect(other).toHaveURL(urlPath(`/${slug}`));
    await expectH1(other, 'Overview');
    expectNoPageErrors(invitee.errors);
  } finally {
    await invitee.context.close();
  }

  // The owner sees both of them.
  await visit(page, `/${slug}/members`);
  await expect(memberRow(page, ownerEmail)).toHaveCount(1);
  await expect(memberRow(page, inviteeEmail)).toHaveCount(1);
  await expectRole(memberRow(page, ownerEmail), 'owner');
  await expectRole(memberRow(page, inviteeEmail), 'member');
  await screenshot(page, 'members-two-users');
});
