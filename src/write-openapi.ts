// `npm run openapi`: writes the OpenAPI document (http/openapi.ts) to docs/openapi.json, where it
// is checked in for those who read the API without running qrelay. The tests fail while the
// checked-in file differs from what this writes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { openApiJson } from './http/openapi.js';

// dist/write-openapi.js -> docs/ at the root of the repository.
const docs = new URL('../docs/', import.meta.url);
mkdirSync(docs, { recursive: true });
const file = new URL('openapi.json', docs);
writeFileSync(file, openApiJson());
console.log(`wrote ${file.pathname}`);
