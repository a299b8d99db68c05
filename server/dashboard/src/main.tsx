import { render } from 'preact';
import { App } from './app.js';

// The dashboard's entry point (bundled by scripts/build-dashboard.mjs into /dashboard/assets/main-<hash>.js).
const root = document.getElementById('app');
if (root) render(<App />, root);
