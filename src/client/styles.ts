// The element's look: one stylesheet in its shadow root, themable from the page through the
// --qrelay-* custom properties and the parts (see the element's doc comment).

const CSS = `
:host {
  display: inline-block;
  --_size: var(--qrelay-size, 240px);
  --_bg: var(--qrelay-background, #ffffff);
  --_border: var(--qrelay-border, #d5dce6);
  /* The text under the QR lies on the page's own background, unknown here: by default it takes the
     page's text colour (muted: that colour at 75%), readable wherever the page's own text is. */
  --_muted: var(--qrelay-muted, color-mix(in srgb, currentColor 75%, transparent));
  --_accent: var(--qrelay-accent, #2252c9);
  --_accent-text: var(--qrelay-accent-text, #ffffff);
  --_success: var(--qrelay-success, #127a46);
  --_danger: var(--qrelay-danger, #b42318);
  --_radius: var(--qrelay-radius, 12px);
  font: var(--qrelay-font, inherit);
  color: var(--qrelay-text, inherit);
  text-align: center;
}
:host([hidden]) { display: none; }
[hidden] { display: none !important; }
.frame {
  position: relative;
  box-sizing: content-box;
  width: var(--_size);
  height: var(--_size);
  max-width: 100%;
  margin: 0 auto;
  padding: 12px;
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
}
.frame:focus-visible { outline: 3px solid var(--_accent); outline-offset: 3px; }
.frame:focus:not(:focus-visible) { outline: none; }
.qr { display: block; width: 100%; height: 100%; }
/* Shown instead of the QR whenever it must not be scanned: there is no QR under it at all. */
.void {
  position: absolute;
  inset: 12px;
  border-radius: 6px;
  background:
    repeating-linear-gradient(0deg, transparent 0 14px, rgb(82 94 112 / 7%) 14px 16px),
    repeating-linear-gradient(90deg, transparent 0 14px, rgb(82 94 112 / 7%) 14px 16px),
    #f3f5f8;
}
.center {
  position: absolute;
  inset: 12px;
  padding: 12px;
  display: flex;
  flex-direction: column;
  align-items: center;
  justify-content: center;
  gap: 12px;
}
.badge {
  padding: 6px 14px;
  border-radius: 999px;
  background: #1b2330;
  color: #ffffff;
  font-weight: 700;
  font-size: 0.9375rem;
}
.login[data-state="scanned"] .badge,
.login[data-state="confirmed"] .badge { background: var(--_success); }
.login[data-state="cancelled"] .badge,
.login[data-state="ended"] .badge,
.login[data-online="false"] .badge { background: var(--_danger); }
.refresh {
  min-height: 44px;
  padding: 10px 14px;
  border: 0;
  border-radius: 10px;
  background: var(--_accent);
  color: var(--_accent-text);
  font: inherit;
  font-weight: 600;
  cursor: pointer;
}
.refresh:hover { filter: brightness(1.1); }
.refresh:focus-visible { outline: 3px solid var(--_accent); outline-offset: 3px; }
.spinner {
  width: 32px;
  height: 32px;
  border: 3px solid var(--_border);
  border-top-color: var(--_accent);
  border-radius: 50%;
  animation: spin 0.9s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }
.status { margin: 14px 0 0; font-weight: 600; }
.login[data-state="confirmed"] .status { color: var(--qrelay-success, inherit); }
.login[data-state="cancelled"] .status,
.login[data-state="expired"] .status,
.login[data-state="ended"] .status,
.login[data-online="false"] .status { color: var(--qrelay-danger, inherit); }
.countdown { margin: 4px 0 0; color: var(--_muted); font-size: 0.875rem; font-variant-numeric: tabular-nums; }
@media (prefers-reduced-motion: reduce) { .spinner { animation-duration: 3s; } }
@media (forced-colors: active) { .badge { border: 1px solid CanvasText; } .void { background: Canvas; } }
`;

let sharedSheet: CSSStyleSheet | undefined;

/**
 * The element's styles: a constructed stylesheet where the browser has them (a page's CSP
 * style-src does not apply to it), a <style> element otherwise.
 */
export function adoptStyles(root: ShadowRoot): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
    if (sharedSheet === undefined) {
      sharedSheet = new CSSStyleSheet();
      sharedSheet.replaceSync(CSS);
    }
    root.adoptedStyleSheets = [sharedSheet];
    return;
  }
  const style = document.createElement('style');
  style.textContent = CSS;
  root.append(style);
}
