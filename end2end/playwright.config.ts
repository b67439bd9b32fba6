// Playwright drives Debian's Chromium (/usr/bin/chromium) against a server
// that `cargo xtask test` starts and names in BASE_URL. Run through xtask;
// by hand: start `alumia serve`, then
//   BASE_URL=http://localhost:3000 npx playwright test
import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// Chromium keeps its profile and crash state under XDG_CONFIG_HOME; xtask
// points it at a fresh temp dir. Do the same when run by hand.
if (!process.env.XDG_CONFIG_HOME) {
  process.env.XDG_CONFIG_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'alumia-e2e-xdg-'));
}

// WebAuthn refuses 127.0.0.1, so pages are opened as http://localhost:PORT.
const baseURL = process.env.BASE_URL ?? 'http://localhost:3000';

export default defineConfig({
  testDir: './tests',
  // One server, one SQLite file: run the files one after another.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: 'list',
  outputDir: './test-results',
  use: {
    baseURL,
    headless: true,
    // Traces of failed tests land in test-results/ for `npx playwright show-trace`.
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
