// The suites that need nginx or promtool skip, saying why, on a machine without them, and fail
// under CI instead.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { findTool, tool } from '../support/tools.js';

describe('a missing external tool', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('skips its suite outside CI, naming the tool and how to install it in the title and on the console', () => {
    vi.stubEnv('CI', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const t = tool('qrelay-no-such-tool', 'a suite', 'apt-get install it');
    expect(t.skip).toBe(true);
    expect(t.title).toBe('a suite [SKIPPED: qrelay-no-such-tool not found; apt-get install it]');
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('SKIPPED "a suite": qrelay-no-such-tool not found'));
  });

  it('fails its suite under CI rather than skipping it', () => {
    vi.stubEnv('CI', 'true');
    const t = tool('qrelay-no-such-tool', 'a suite', 'apt-get install it');
    expect(t.skip).toBe(false);
    expect(t.title).toBe('a suite');
    expect(() => t.require()).toThrow(/qrelay-no-such-tool not found, and CI=true/);
  });

  it('is found on PATH, or in the sbin directories daemons are installed to', () => {
    expect(findTool('node')).toBeDefined();
    expect(tool('node', 'a suite', '').require()).toMatch(/\/node$/);
  });
});
