// What the public listener serves besides the API: the browser client always, the demo (its pages
// and backend) only with DEMO=1, and the start-up log line that says where the demo is.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import request from 'supertest';
import ts from 'typescript';
import { describe, expect, it, onTestFinished } from 'vitest';
import { TEST_ENV, mint, startNode } from '../support/node.js';
import { childEnv } from '../support/env.js';

const DEMO_PATHS = ['/', '/index.html', '/login.js', '/scan.html', '/scan.js', '/style.css'];

describe('the demo stays a demo', () => {
  it('without DEMO=1, its pages and routes do not exist', async () => {
    const node = await startNode();
    const s = await mint(node);
    for (const path of DEMO_PATHS) {
      const res = await request(node.publicUrl).get(path);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code, path).toBe('no_route');
    }
    const scan = await request(node.publicUrl).post('/demo/scan').send({ key: s.key });
    expect(scan.status).toBe(404);
    expect((await request(node.privateUrl).get('/status/peek').query({ key: s.key })).body.status).toBe('pending');
  });

  it('with DEMO=1, the pages are served and the PC page loads the browser client', async () => {
    const node = await startNode({ DEMO: '1' });
    for (const path of DEMO_PATHS) expect((await request(node.publicUrl).get(path)).status, path).toBe(200);
    const page = await request(node.publicUrl).get('/');
    expect(page.text).toContain('<qrelay-login');
    expect(page.text).toContain('src="/qrelay-login.js"');
  });

  it('with DEMO=1, the start-up log says which URL to open', async () => {
    const main = new URL('../../dist/main.js', import.meta.url);
    if (!existsSync(main)) throw new Error('dist/main.js is missing: run `npm run build` first (npm test does)');
    const child = spawn(process.execPath, [main.pathname], {
      env: childEnv({ ...TEST_ENV, LOG_LEVEL: 'info', DEMO: '1' }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const lines: Array<{ msg: string; public?: string; open?: string }> = [];
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.once('exit', () => reject(new Error('the node exited')));
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const complete = buffered.split('\n');
        buffered = complete.pop() ?? '';
        for (const line of complete) lines.push(JSON.parse(line) as (typeof lines)[number]);
        if (lines.some((l) => l.open !== undefined)) resolve();
      });
    });
    const listening = lines.find((l) => l.msg === 'qrelay listening');
    const demo = lines.find((l) => l.open !== undefined);
    expect(demo?.open).toBe(`${listening?.public}/`);
    expect(demo?.msg).toContain(`open ${listening?.public}/ on the computer`);
  });
});

describe('the browser client', () => {
  it('is served as an ES module with its type declarations, on every node', async () => {
    const node = await startNode();
    const js = await request(node.publicUrl).get('/qrelay-login.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.text).toMatch(/customElements\.define\(["']qrelay-login["']/);
    expect(js.text).not.toMatch(/^import /m);
    // Loaded on its own, with nowhere to import from (and no DOM, as server-side rendering loads it).
    const module: Record<string, unknown> = await import(/* @vite-ignore */ `data:text/javascript;base64,${Buffer.from(js.text).toString('base64')}`);
    expect(typeof module['createLogin']).toBe('function');
    expect(Object.keys(module).sort()).toEqual(['QrelayLogin', 'QrelayLoginElement', 'createLogin']);
    const dts = await request(node.publicUrl).get('/qrelay-login.d.ts');
    expect(dts.status).toBe(200);
    expect(dts.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(dts.text).toContain('export declare function createLogin(options: LoginOptions): QrelayLogin;');
    expect(dts.text).toContain("'qrelay-login': QrelayLoginElement;");
  });

  it('has declarations that stand alone: one file with no imports, valid against the DOM types only', async () => {
    const node = await startNode();
    const dts = (await request(node.publicUrl).get('/qrelay-login.d.ts')).text;
    expect(dts).not.toMatch(/^import /m);
    const name = '/qrelay-login.d.ts';
    const options: ts.CompilerOptions = { strict: true, noEmit: true, skipDefaultLibCheck: true, target: ts.ScriptTarget.ES2022, types: [], lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'] };
    const host = ts.createCompilerHost(options);
    const readFile = host.getSourceFile.bind(host);
    host.getSourceFile = (file, language, ...rest) =>
      file === name ? ts.createSourceFile(file, dts, language) : readFile(file, language, ...rest);
    const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram([name], options, host));
    expect(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  });

  it('is loadable from an origin in CORS_ORIGINS, which can read Retry-After and Date', async () => {
    const node = await startNode({ CORS_ORIGINS: 'https://site.example' });
    const js = await request(node.publicUrl).get('/qrelay-login.js').set('Origin', 'https://site.example');
    expect(js.headers['access-control-allow-origin']).toBe('https://site.example');
    const created = await request(node.publicUrl).post('/status/new').set('Origin', 'https://site.example');
    expect(created.headers['access-control-expose-headers']).toBe('Retry-After,Date');
  });
});
