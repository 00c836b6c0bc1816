// Copies the dist files the web app serves into api/static/vendor (committed, so a deployment needs no npm
// and no page loads anything from a CDN). Run after changing a version in package.json:
//   cd frontend && npm ci && npm run vendor
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "api", "static", "vendor");
const FILES = {
  "htmx.org": { "dist/htmx.min.js": "htmx.min.js", LICENSE: "htmx.LICENSE" },
  "@picocss/pico": { "css/pico.min.css": "pico.min.css", "LICENSE.md": "pico.LICENSE.md" },
};

mkdirSync(out, { recursive: true });
const versions = {};
for (const [pkg, files] of Object.entries(FILES)) {
  const root = join(here, "node_modules", pkg);
  versions[pkg] = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  for (const [from, to] of Object.entries(files)) {
    copyFileSync(join(root, from), join(out, to));
    console.log(`${pkg}@${versions[pkg]} ${from} -> api/static/vendor/${to}`);
  }
}
const listing = Object.entries(versions).map(([pkg, v]) => `${pkg} ${v}`).join("\n");
writeFileSync(join(out, "VERSIONS"), `${listing}\n`);
