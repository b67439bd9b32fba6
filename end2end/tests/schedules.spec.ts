// Schedules and notifications: a schedule made with the live preview of
// its next times, run now, its run in the history with a link to the
// session; a failing one reaches the notifications live, with the
// sidebar's unread badge, and reading it clears the badge. The e2e
// server's runner ticks every second; its stand-in model answers a
// prompt containing "fail" with 503.
import {
  createOrg,
  expect,
  liveNotifications,
  screenshot,
  signUp,
  test,
  uniqueEmail,
  uniqueSlug,
  visit,
  visitLive,
} from './helpers';
import type { Page } from '@playwright/test';

async function createSchedule(page: Page, name: string, prompt: string): Promise<void> {
  const form = page.getByRole('region', { name: 'Create a schedule' });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('When (cron)').fill('30 9 * * 1-5');
  await form.getByLabel('Time zone').fill('Europe/Berlin');
  await expect(form.getByTestId('schedule-preview')).toContainText('At 09:30 on Monday through Friday, Europe/Berlin');
  await form.getByLabel('Prompt').fill(prompt);
  await form.getByRole('button', { name: 'Create schedule' }).click();
  await expect(page.getByRole('heading', { name, exact: true })).toBeVisible();
}

test('schedules: create with the preview, run now, history; a failure arrives live in notifications', async ({
  page,
  context,
}) => {
  const slug = uniqueSlug();
  await signUp(page, uniqueEmail('schedules'));
  await createOrg(page, 'E2E Schedules Org', slug);
  await visit(page, `/${slug}/agents`);
  const agentForm = page.getByRole('region', { name: 'Create an agent' });
  await agentForm.getByLabel('Name').fill('Digest bot');
  await agentForm.getByLabel('Model').selectOption('e2e/small');
  await agentForm.getByRole('button', { name: 'Create agent' }).click();
  await expect(page.getByRole('heading', { name: 'Digest bot', exact: true })).toBeVisible();
  await visit(page, `/${slug}/projects`);
  await page.getByLabel('Name', { exact: true }).fill('Reports');
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.getByRole('link', { name: 'Reports' })).toBeVisible();

  await liveNotifications(context);
  await visitLive(page, `/${slug}/schedules`);
  await expect(page.getByText('No schedules yet')).toBeVisible();
  // The preview follows what is typed, and says what is wrong.
  const form = page.getByRole('region', { name: 'Create a schedule' });
  const preview = form.getByTestId('schedule-preview');
  await form.getByLabel('When (cron)').fill('61 * * * *');
  await expect(preview).toContainText('cron');
  await form.getByLabel('When (cron)').fill('30 9 * * 1-5');
  // Typed key by key: the form keeps its focus and text while the
  // preview follows.
  await form.getByLabel('Time zone').fill('');
  await form.getByLabel('Time zone').pressSequentially('Europe/Berlin', { delay: 30 });
  await expect(form.getByLabel('Time zone')).toHaveValue('Europe/Berlin');
  await expect(preview).toContainText('At 09:30 on Monday through Friday, Europe/Berlin');
  await expect(preview.locator('li')).toHaveCount(5);
  await expect(preview.locator('li').first()).toContainText(/09:30 CES?T/);
  await screenshot(page, 'schedules-create-preview');

  await createSchedule(page, 'Morning digest', 'Write the morning digest');
  await expect(form.getByLabel('Name')).toHaveValue('', { timeout: 5_000 });
  const row = page.getByTestId('schedule').filter({ hasText: 'Morning digest' });
  await expect(row.getByTestId('cron-description')).toHaveText('At 09:30 on Monday through Friday, Europe/Berlin');
  await expect(row).toContainText(/Next: .*09:30 CES?T/);

  // Run now: the history shows the run and links its session.
  await row.getByRole('button', { name: 'Run now Morning digest' }).click();
  await expect(row).toContainText('Last run:');
  await row.getByRole('link', { name: 'History of Morning digest' }).click();
  const history = page.getByTestId('schedule-history');
  await expect(history.getByRole('heading', { name: 'History of Morning digest' })).toBeVisible();
  await expect(history.getByTestId('schedule-run').first()).toContainText('succeeded', { timeout: 20_000 });
  await expect(row).toContainText('Last run: succeeded');
  await screenshot(page, 'schedules-history');
  await history.getByRole('link', { name: 'Open' }).first().click();
  await expect(page.getByTestId('transcript')).toContainText('You said: Write the morning digest');

  // A schedule whose run fails: the notification arrives without a
  // reload, with the badge.
  await visitLive(page, `/${slug}/schedules`);
  const badge = page.getByRole('navigation', { name: 'Organization' }).getByTestId('unread-badge');
  await expect(badge).toHaveCount(0);
  await createSchedule(page, 'Failing report', 'please fail now');
  const failing = page.getByTestId('schedule').filter({ hasText: 'Failing report' });
  await failing.getByRole('button', { name: 'Run now Failing report' }).click();
  await expect(badge).toHaveText(/^1\s*unread$/, { timeout: 30_000 });
  await screenshot(page, 'schedules-failure-badge');

  await page.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name: /Notifications/ }).click();
  const item = page.getByTestId('notification').first();
  await expect(item.getByRole('heading')).toContainText('Schedule “Failing report” failed');
  await expect(item).toContainText('The run stopped');
  await expect(page.getByTestId('unread-count')).toHaveText('1 unread.');
  await screenshot(page, 'notifications-unread');
  await item.getByRole('button', { name: /Mark read/ }).click();
  await expect(page.getByTestId('unread-count')).toHaveText('Everything is read.');
  await expect(badge).toHaveCount(0);
  await item.getByRole('link', { name: /Open/ }).click();
  await expect(page.getByTestId('schedule-history')).toContainText('failed');
});
