// Agents: the models table, creating agents (fast mode explained), editing
// and disabling one, restricting its tools and peers (a step-up change),
// a refused peer, and deleting. The e2e server has one provider with two
// models, `e2e/large` and its fast sibling `e2e/small` (xtask's E2E_CONFIG).
import { createOrg, expect, expectH1, screenshot, signUpWithPasskey, test, uniqueEmail, uniqueSlug, visit } from './helpers';
import type { Locator, Page } from '@playwright/test';

function agentRow(page: Page, name: string): Locator {
  return page.getByRole('listitem').filter({ has: page.getByRole('heading', { name, exact: true }) });
}

async function createAgent(page: Page, name: string, model: string, fast: boolean): Promise<void> {
  const form = page.getByRole('region', { name: 'Create an agent' });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Model').selectOption(model);
  await form.getByLabel('System prompt').fill(`You are ${name}.`);
  await form.getByLabel('Max steps').fill('12');
  await form.getByLabel('Fast mode').setChecked(fast);
  await form.getByRole('button', { name: 'Create agent' }).click();
  await expect(agentRow(page, name)).toBeVisible();
  // The form is empty again for the next one.
  await expect(form.getByLabel('Name')).toHaveValue('');
}

test('agents: create, edit, disable, restrict, delete', async ({ page }) => {
  const slug = uniqueSlug();
  // A passkey steps the session up, as restriction changes need.
  await signUpWithPasskey(page, uniqueEmail('agents'));
  await visit(page, '/new');
  await createOrg(page, 'E2E Agents Org', slug);

  await visit(page, `/${slug}/agents`);
  await expectH1(page, 'Agents');
  const models = page.getByRole('region', { name: 'Models' });
  const large = models.getByRole('row').filter({ hasText: 'e2e/large' });
  await expect(large).toContainText('200 / 800');
  await expect(large).toContainText('e2e/small');
  await expect(page.getByText('No agents yet.')).toBeVisible();

  await createAgent(page, 'Reviewer', 'e2e/large', true);
  const reviewer = agentRow(page, 'Reviewer');
  await expect(reviewer).toContainText('fast mode: runs e2e/small');
  await expect(reviewer).toContainText('up to 12 steps');
  await expect(reviewer).toContainText('Enabled');
  await expect(reviewer).toContainText('May use every tool; may message every agent of the project.');
  await createAgent(page, 'Helper', 'e2e/small', false);

  // Edit: more steps, disabled.
  await reviewer.locator('summary', { hasText: 'Edit' }).click();
  await reviewer.getByLabel('Max steps').fill('20');
  await reviewer.getByLabel(/^Enabled/).uncheck();
  await reviewer.getByRole('button', { name: 'Save changes' }).click();
  await expect(reviewer).toContainText('up to 20 steps');
  await expect(reviewer).toContainText('Disabled');

  // Restrictions: a peer that does not exist is refused, then a real one.
  await reviewer.locator('summary', { hasText: 'Restrictions' }).click();
  await reviewer.getByLabel('Tools').fill('list_agents, message_agent');
  await reviewer.getByLabel('Peers').fill('Nobody');
  await reviewer.getByRole('button', { name: 'Save restrictions' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'no agent is named "Nobody"' })).toBeVisible();
  await reviewer.getByLabel('Peers').fill('Helper');
  await reviewer.getByRole('button', { name: 'Save restrictions' }).click();
  await expect(reviewer).toContainText('May use list_agents, message_agent; may message Helper.');
  await screenshot(page, 'agents-list');

  // Delete the helper.
  const helper = agentRow(page, 'Helper');
  await helper.locator('summary', { hasText: 'Delete' }).click();
  await helper.getByRole('button', { name: 'Confirm: delete Helper' }).click();
  await expect(agentRow(page, 'Helper')).toHaveCount(0);
  await expect(agentRow(page, 'Reviewer')).toBeVisible();
});

test('agents: an org adds its own provider key and an agent runs on it', async ({ page }) => {
  const slug = uniqueSlug();
  // The passkey sign-up is the step-up a provider key needs.
  await signUpWithPasskey(page, uniqueEmail('byok'));
  await visit(page, '/new');
  await createOrg(page, 'E2E BYOK Org', slug);
  await visit(page, `/${slug}/agents`);
  const providers = page.getByRole('region', { name: 'Model providers' });
  await expect(providers).toContainText('Offered by this server, metered in credits by its operator: e2e (2 models).');
  await expect(providers).toContainText('This organization has no provider keys of its own.');

  await providers.locator('summary', { hasText: 'Add your own provider key' }).click();
  await providers.getByLabel('Id').fill('own');
  await providers.getByLabel('Kind').selectOption('openai');
  await providers.getByLabel('Base URL').fill(process.env.E2E_MODEL_URL ?? 'http://127.0.0.1:9/v1');
  await providers.getByLabel('API key').fill('sk-e2e-own-key-4321');
  // Models left empty: read from the provider's list.
  await providers.getByRole('button', { name: 'Add provider' }).click();
  const own = providers.getByRole('list', { name: 'Your providers' });
  await expect(own).toContainText('openai · key ending 4321');
  await expect(own).toContainText('2 models: own-large, own-small');
  await expect(page.locator('body')).not.toContainText('sk-e2e-own-key');
  // The catalogue has them, free.
  const row = page.getByRole('region', { name: 'Models' }).getByRole('row').filter({ hasText: 'own/own-large' });
  await expect(row).toContainText('free');
  await screenshot(page, 'agents-providers');

  await createAgent(page, 'Own', 'own/own-large', false);
  await expect(agentRow(page, 'Own')).toContainText('own/own-large');
});
