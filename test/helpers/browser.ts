import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { sleep } from './wait.js';

/** The Debian chromium package's binary, driven by playwright-core. */
const CHROMIUM = '/usr/bin/chromium';
/** Headless, no sandbox (containers), and nothing that talks to the network besides the page. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A running headless Chromium with one page. */
export interface ChromiumPage {
  browser: Browser;
  /** Ignores certificate errors, so pages load from a kvws serving a throwaway test certificate. */
  context: BrowserContext;
  /** A blank page; its actions time out after 15 s. */
  page: Page;
  /**
   * Closes the browser and ends the Chromium process. Each step is bounded (5 s) and errors are swallowed, so
   * it returns, with Chromium gone, whatever state the browser is in; safe to call more than once.
   */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium (`CHROMIUM` with `CHROMIUM_ARGS`) and opens a page in a context that ignores
 * certificate errors. Launches a browser server rather than a browser, so `close` can kill the process if
 * closing hangs. Rejects when Chromium does not start or connect within 30 s, leaving no process behind.
 */
export async function launchChromium(): Promise<ChromiumPage> {
  const server = await chromium.launchServer({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
  });
  let browser: Browser | undefined;
  const close = async () => {
    if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5_000)]);
    await Promise.race([server.close().catch(() => {}), sleep(5_000)]);
    await server.kill().catch(() => {});
  };
  try {
    browser = await chromium.connect(server.wsEndpoint(), { timeout: 30_000 });
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    return { browser, context, page, close };
  } catch (err) {
    await close();
    throw err;
  }
}
