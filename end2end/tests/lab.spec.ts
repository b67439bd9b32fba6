// The lab: a project's sessions and the chat with an agent. The e2e
// server's provider is a stand-in model (xtask's fake_model) that answers
// "You said: <message>" a word at a time, streams "word0 word1 …" slowly
// when asked to go "slowly", calls get_time for "what time", and reports
// more tokens than any balance pays for "expensive".
import { createOrg, expect, expectH1, screenshot, signUp, test, uniqueEmail, uniqueSlug, visit } from './helpers';
import type { Page } from '@playwright/test';

/** A reload mid-run: the page keeps a stream open, so no `networkidle`. */
async function reloadWhileStreaming(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => (window as { __e2eHydrated?: boolean }).__e2eHydrated === true, undefined, {
    timeout: 20_000,
  });
}

/** Signs up, creates an org, an agent on `model` and a project, and opens
 *  a session with the agent in the project's lab. */
async function openLab(page: Page, tag: string, agent: string, model: string, project: string): Promise<string> {
  const slug = uniqueSlug();
  await signUp(page, uniqueEmail(tag));
  await createOrg(page, `E2E ${project} Org`, slug);

  await visit(page, `/${slug}/agents`);
  const form = page.getByRole('region', { name: 'Create an agent' });
  await form.getByLabel('Name').fill(agent);
  await form.getByLabel('Model').selectOption(model);
  await form.getByRole('button', { name: 'Create agent' }).click();
  await expect(page.getByRole('heading', { name: agent, exact: true })).toBeVisible();

  await visit(page, `/${slug}/projects`);
  await page.getByLabel('Name', { exact: true }).fill(project);
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('link', { name: project }).click();
  await expectH1(page, project);
  await expect(page.getByText('No sessions yet.')).toBeVisible();

  await page.getByLabel('Agent', { exact: true }).selectOption({ label: agent });
  await page.getByRole('button', { name: 'New session' }).click();
  await expect(page).toHaveURL(/\?session=[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: `Chat with ${agent}` })).toBeVisible();
  return slug;
}

test('lab: chat with an agent, the reply streams, a reload picks it up, cancel stops it', async ({ page }) => {
  // A session with Echo.
  await openLab(page, 'lab', 'Echo', 'e2e/small', 'Moon Base');

  // A message: the reply streams in, then is the stored answer.
  const transcript = page.getByTestId('transcript');
  await page.getByLabel('Message').fill('Hello there, moon');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(transcript.locator('[data-role="user"]')).toContainText('Hello there, moon');
  await expect(transcript.locator('[data-role="assistant"]').last()).toHaveText(/You said: Hello there, moon/);
  await expect(page.getByLabel('Message')).toHaveValue('');
  const sessions = page.getByTestId('sessions');
  await visit(page, page.url());
  await expect(transcript.locator('[data-role="assistant"]')).toHaveText(['Agent: You said: Hello there, moon']);
  await expect(sessions).toContainText('idle');

  // A slow one: words arrive one by one; a reload mid-run picks the
  // stream up where it was; Cancel stops it and keeps what came.
  await page.getByLabel('Message').fill('Count slowly please');
  await page.getByRole('button', { name: 'Send' }).click();
  const answer = transcript.locator('[data-role="assistant"]').last();
  await expect(answer).toContainText('word2');
  await expect(transcript.locator('[data-role="user"]').last()).toContainText('Count slowly please');
  await expect(sessions).toContainText('running');
  await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
  await screenshot(page, 'lab-streaming');
  await reloadWhileStreaming(page);
  await expect(transcript.locator('[data-role="assistant"]').last()).toContainText('word0 word1 word2');
  await expect(transcript.locator('[data-role="assistant"]').last()).toContainText('word5');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('button', { name: 'Send' })).toBeEnabled();
  await expect(page.getByRole('button', { name: 'Cancel' })).toHaveCount(0);
  // What streamed before the cancel is kept, as the stored answer.
  await expect(transcript.locator('[data-role="assistant"]').last()).toContainText('word0 word1 word2');
  await visit(page, page.url());
  await expect(sessions).toContainText('cancelled');
  await expect(transcript.locator('[data-role="assistant"]').last()).toContainText('word5');
  await screenshot(page, 'lab-chat');
});

test('lab: a tool call is a card, and a run the credits cannot pay ends on the billing card', async ({ page }) => {
  const slug = await openLab(page, 'lab-tools', 'Clock', 'e2e/large', 'Timekeeping');

  // The model calls get_time; the card has its arguments and output.
  const transcript = page.getByTestId('transcript');
  await page.getByLabel('Message').fill('what time is it?');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(transcript.locator('[data-role="assistant"]').last()).toContainText('I looked at the clock.');
  const card = transcript.locator('[data-role="tool"]');
  await expect(card).toContainText('get_time');
  await card.locator('summary').click();
  await expect(card).toContainText('"timezone": "UTC"');
  await expect(card).toContainText('unixSeconds');
  await screenshot(page, 'lab-tool-card');

  // A step whose usage the org's credits cannot pay: the run stops and
  // the chat shows the billing card.
  await page.getByLabel('Message').fill('something expensive');
  await page.getByRole('button', { name: 'Send' }).click();
  const buy = page.getByRole('link', { name: 'Buy credits' });
  await expect(buy).toBeVisible();
  await expect(buy).toHaveAttribute('href', `/${slug}/billing#buy`);
  await screenshot(page, 'lab-billing-card');
});
