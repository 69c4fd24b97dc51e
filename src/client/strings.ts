// The element's words, in English and Chinese: one Texts per language, every state named, so a
// language missing a state fails to compile. The language is the element's `lang` (its own or
// inherited), else the browser's.
import type { LoginState } from './types.js';

export type Lang = 'en' | 'zh';

export interface Texts {
  readonly label: string;
  readonly alt: string;
  readonly refresh: string;
  readonly status: Readonly<Record<LoginState | 'offline', string>>;
  readonly badge: Readonly<Partial<Record<LoginState | 'offline', string>>>;
  readonly expiresIn: (time: string) => string;
}

export const TEXTS: Readonly<Record<Lang, Texts>> = {
  en: {
    label: 'Log in with a QR code',
    alt: 'QR code to log in: scan it with your phone',
    refresh: 'Get a new QR code',
    status: {
      starting: 'Getting a QR code…',
      pending: 'Scan with your phone to log in',
      scanned: 'Scanned. Confirm the login on your phone',
      confirmed: 'Confirmed. Logging you in…',
      cancelled: 'The login was cancelled on the phone',
      expired: 'The QR code has expired',
      ended: 'This login has ended',
      stopped: '',
      offline: 'Connection lost. Retrying…',
    },
    badge: { scanned: 'Scanned', confirmed: 'Confirmed', cancelled: 'Cancelled', expired: 'Expired', ended: 'Ended', offline: 'Offline' },
    expiresIn: (time) => `Expires in ${time}`,
  },
  zh: {
    label: '扫码登录',
    alt: '登录二维码：请用手机扫描',
    refresh: '刷新二维码',
    status: {
      starting: '正在获取二维码…',
      pending: '请使用手机扫描二维码登录',
      scanned: '扫描成功，请在手机上确认登录',
      confirmed: '已确认，正在登录…',
      cancelled: '已在手机上取消登录',
      expired: '二维码已过期',
      ended: '本次登录已结束',
      stopped: '',
      offline: '网络连接中断，正在重试…',
    },
    badge: { scanned: '已扫描', confirmed: '已确认', cancelled: '已取消', expired: '已过期', ended: '已结束', offline: '连接中断' },
    expiresIn: (time) => `${time} 后过期`,
  },
};

/** The element's `lang` (its own or inherited, as HTML defines it), else the browser's language. */
export function languageOf(element: Element): Lang {
  const tag = element.closest('[lang]')?.getAttribute('lang') || navigator.languages?.[0] || navigator.language || 'en';
  return /^zh(-|$)/i.test(tag) ? 'zh' : 'en';
}
