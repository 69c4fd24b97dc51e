// A User-Agent as "Browser on OS", for showing the phone which browser asked to log in. Order
// matters: browsers carry other browsers' tokens (Edge and Opera say Chrome, Chrome says Safari,
// Android says Linux, iOS says Mac OS X).

const BROWSERS: ReadonlyArray<readonly [string, RegExp]> = [
  ['Edge', /\b(?:Edg|EdgA|EdgiOS|Edge)\//],
  ['Opera', /\b(?:OPR|OPiOS)\/|\bOpera\b/],
  ['Samsung Internet', /\bSamsungBrowser\//],
  ['Firefox', /\b(?:Firefox|FxiOS)\//],
  ['Chrome', /\b(?:HeadlessChrome|Chrome|CriOS|Chromium)\//],
  ['Safari', /\bVersion\/[\d.]+.*\bSafari\/|\bMobile\/\w+.*\bSafari\//],
];

const SYSTEMS: ReadonlyArray<readonly [string, RegExp]> = [
  ['Windows', /\bWindows\b/],
  ['Android', /\bAndroid\b/],
  ['iOS', /\b(?:iPhone|iPad|iPod)\b/],
  ['ChromeOS', /\bCrOS\b/],
  ['macOS', /\b(?:Macintosh|Mac OS X)\b/],
  ['Linux', /\bLinux\b|\bX11\b/],
];

export function describeBrowser(userAgent: string): string {
  const browser = BROWSERS.find(([, re]) => re.test(userAgent))?.[0] ?? 'Unknown browser';
  const os = SYSTEMS.find(([, re]) => re.test(userAgent))?.[0];
  return os === undefined ? browser : `${browser} on ${os}`;
}
