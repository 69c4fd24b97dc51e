// Test support: real answers checked against the OpenAPI document. `check` fails the test when an
// answer's status is not documented for its route, when its media type or body does not match
// the documented schema (Ajv, JSON Schema 2020-12, strict), or when a documented header is
// missing; and it records the (route, status, error code) it exercised, so a test can show that
// every one the document lists was answered for real (`unexercised`).
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'vitest';
import type { OpenApiDocument } from '../../src/http/openapi.js';

/** A route as the tests name it: `GET /status/get`. */
export type RouteName = `${'GET' | 'POST'} /${string}`;

export interface Checked {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed, for a JSON answer. */
  readonly body: unknown;
}

interface HeaderObject {
  readonly required?: boolean;
  readonly schema: { readonly type?: string };
}
interface ResponseObject {
  readonly headers?: Readonly<Record<string, { readonly $ref: string }>>;
  readonly content?: Readonly<Record<string, { readonly schema: ErrorNarrowing }>>;
}
/** How openapi.ts narrows the shared error shape to a status's codes. */
interface ErrorNarrowing {
  readonly properties?: { readonly error?: { readonly properties?: { readonly code?: { readonly enum?: readonly string[] } } } };
}
interface Operation {
  readonly responses: Readonly<Record<string, ResponseObject>>;
}

// Keywords of an OpenAPI document's root, so the document can be added to Ajv as one schema and
// each response schema compiled where it sits, its $refs resolving inside the document.
const OPENAPI_ROOT = ['openapi', 'info', 'servers', 'tags', 'paths', 'components', 'jsonSchemaDialect', 'webhooks', 'security', 'externalDocs'];
const DOC_ID = 'https://qrelay.test/openapi.json';

/**
 * Ajv (strict, but an `if`/`then` may require a property its parent schema defines) holding the
 * document; `schemaAt('/components/schemas/X')` compiles the schema at that JSON pointer.
 */
export function documentSchemas(doc: OpenApiDocument): { ajv: Ajv2020; schemaAt: (at: string) => ValidateFunction } {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
  ajv.addVocabulary(OPENAPI_ROOT);
  ajv.addSchema(doc, DOC_ID);
  const schemaAt = (at: string): ValidateFunction => {
    const validate = ajv.getSchema(`${DOC_ID}#${at}`);
    expect(validate, `a schema at ${at}`).toBeDefined();
    return validate!;
  };
  return { ajv, schemaAt };
}

const pointer = (...parts: string[]): string => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

export class Contract {
  readonly #doc: OpenApiDocument;
  readonly #schemas: ReturnType<typeof documentSchemas>;
  readonly #seen = new Set<string>();

  constructor(doc: OpenApiDocument) {
    this.#doc = doc;
    this.#schemas = documentSchemas(doc);
  }

  /** Reads `res` and checks it against what the document says `route` answers. */
  async check(route: RouteName, res: Response): Promise<Checked> {
    const text = await res.text();
    const [method, path] = route.split(' ') as [string, string];
    const operation = this.#operation(method, path);
    const documented = Object.keys(operation.responses);
    expect(documented, `${route} answered ${res.status} (${text.slice(0, 200)}), which the document does not list`).toContain(String(res.status));
    const response = operation.responses[String(res.status)]!;

    for (const [name, { $ref }] of Object.entries(response.headers ?? {})) {
      const header = this.#header($ref);
      const value = res.headers.get(name);
      if (header.required === true) expect(value, `${route} ${res.status}: header ${name}`).not.toBeNull();
      if (value !== null) this.#validate(`${$ref.slice(1)}/schema`, header.schema.type === 'integer' ? Number(value) : value, `${route} ${res.status}: header ${name}`);
    }

    let body: unknown;
    let code = '';
    if (response.content === undefined) {
      expect(text, `${route} ${res.status} has no body`).toBe('');
    } else {
      const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      expect(Object.keys(response.content), `${route} ${res.status}: media type`).toContain(mediaType);
      body = mediaType === 'application/json' ? (JSON.parse(text) as unknown) : text;
      const schemaAt = `/${pointer('paths', path, method.toLowerCase(), 'responses', String(res.status), 'content', mediaType, 'schema')}`;
      this.#validate(schemaAt, body, `${route} ${res.status}`);
      if (response.content[mediaType]!.schema.properties?.error !== undefined) code = (body as { error: { code: string } }).error.code;
    }
    this.#seen.add(`${route} ${res.status} ${code}`.trimEnd());
    return { status: res.status, headers: res.headers, text, body };
  }

  /** `fetch`, then `check`. */
  async fetch(route: RouteName, url: string, init?: RequestInit): Promise<Checked> {
    return this.check(route, await fetch(url, init));
  }

  /** Each (route, status, error code) the document lists that no checked answer exercised. */
  unexercised(): string[] {
    const listed: string[] = [];
    for (const [path, item] of Object.entries(this.#doc.paths)) {
      for (const method of ['get', 'post']) {
        const operation = item[method] as Operation | undefined;
        if (operation === undefined) continue;
        for (const [status, response] of Object.entries(operation.responses)) {
          const route = `${method.toUpperCase()} ${path} ${status}`;
          const codes = Object.values(response.content ?? {}).flatMap((c) => c.schema.properties?.error?.properties?.code?.enum ?? []);
          if (codes.length === 0) listed.push(route);
          for (const code of codes) listed.push(`${route} ${code}`);
        }
      }
    }
    return listed.filter((entry) => !this.#seen.has(entry));
  }

  #operation(method: string, path: string): Operation {
    const operation = this.#doc.paths[path]?.[method.toLowerCase()] as Operation | undefined;
    expect(operation, `the document has no ${method} ${path}`).toBeDefined();
    return operation!;
  }

  #header(ref: string): HeaderObject {
    const name = ref.split('/').pop()!;
    const components = this.#doc['components'] as { headers: Record<string, HeaderObject> };
    const header = components.headers[name];
    expect(header, `header component ${ref}`).toBeDefined();
    return header!;
  }

  #validate(at: string, value: unknown, what: string): void {
    const validate = this.#schemas.schemaAt(at);
    const valid = validate(value);
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
    expect(valid, `${what} does not match the document: ${errors.join('; ')}\n${JSON.stringify(value)?.slice(0, 500)}`).toBe(true);
  }
}
