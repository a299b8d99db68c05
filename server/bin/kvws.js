#!/usr/bin/env node
// The kvws command. Build first (`npm run build`, or `npm start` which does it for you).
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(`kvws: ${err?.message ?? err}`);
    process.exitCode = 1;
  },
);
