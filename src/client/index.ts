// qrelay's browser client, served by the public listener as GET /qrelay-login.js (one ES module,
// no imports, so a site can load it from qrelay or copy it) with its types at /qrelay-login.d.ts.
// `npm run build` bundles these modules into that one file (scripts/build-client.mjs).
//
//   <qrelay-login base-url="https://login.example.com"></qrelay-login>   the element (renders)
//   createLogin({ baseUrl })                                             the login under it (no DOM)
import { QrelayLoginElement } from './element.js';

export type * from './types.js';
export { createLogin, QrelayLogin } from './login.js';
export { QrelayLoginElement } from './element.js';

if (typeof customElements !== 'undefined' && customElements.get('qrelay-login') === undefined) {
  customElements.define('qrelay-login', QrelayLoginElement);
}
