import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SERVER_ENTRY = fileURLToPath(new URL('../server/dist/index.js', import.meta.url));

/** Runs once before all test files. Throws if the server has not been built. */
export default async function globalSetup(): Promise<void> {
  if (!existsSync(SERVER_ENTRY)) {
    throw new Error(`${SERVER_ENTRY} does not exist: run npm run build (or npm test, which builds first)`);
  }
}
