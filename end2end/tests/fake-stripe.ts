// A stand-in for Stripe, run inside the Playwright process on loopback,
// for the billing page's top-up flow (payments.spec.ts). It plays three
// parts of Stripe:
// - the API the server calls (async-stripe: form-encoded requests under
//   /v1, `Authorization: Bearer`, `Idempotency-Key`, JSON objects with the
//   fields the Rust client requires, Stripe's error envelope);
// - Stripe.js (GET /v3/), which the billing page loads: a plain card form
//   instead of Stripe's iframe, and `confirmPayment` posting to
//   /test/confirm here;
// - webhooks: a confirmed payment is followed by a signed
//   `payment_intent.succeeded` event posted to the server, which the test
//   can wait for.
// Cards: 4000 0000 0000 0002 is declined; any other complete number pays.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export const SECRET_KEY = 'sk_test_e2e';
export const WEBHOOK_SECRET = 'whsec_e2e';
export const PUBLISHABLE_KEY = 'pk_test_e2e';
export const DECLINED_CARD = '4000 0000 0000 0002';
export const GOOD_CARD = '4242 4242 4242 4242';

type Json = Record<string, unknown>;

export interface PaymentIntent extends Json {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  client_secret: string;
  customer: string | null;
  metadata: Record<string, string>;
  status: string;
}

/** One request the fake received. */
export interface Received {
  method: string;
  /** The path without the query (async-stripe sends a bare `?` on GETs). */
  path: string;
  query: string;
  body: string;
  idempotencyKey?: string;
  status: number;
}

/** One webhook delivery to the server: the event and the server's answer. */
export interface Delivery {
  eventId: string;
  type: string;
  objectId: string;
  status: number;
  body: string;
}

export interface FakeStripe {
  /** `http://127.0.0.1:<port>/`: the API base the server is pointed at. */
  base: string;
  /** Where the billing page loads Stripe.js from. */
  jsUrl: string;
  /** The ALUMIA_STRIPE_* settings that point a server at this fake. */
  env(): Record<string, string>;
  /** Where webhooks go, e.g. `http://127.0.0.1:<port>/api/v1/webhooks/stripe`. */
  setWebhookUrl(url: string): void;
  intent(id: string): PaymentIntent | undefined;
  intents(): PaymentIntent[];
  customers(): Json[];
  invoices(): Json[];
  requests(): Received[];
  /** Requests no route answered (404): a sign the server asked for something new. */
  unhandled(): Received[];
  /** The customer pays `id` (as after a successful confirm); answers the PaymentIntent. */
  pay(id: string): PaymentIntent;
  /** Signs and posts an event about `object` to the server; answers the delivery. */
  deliver(type: string, object: Json): Promise<Delivery>;
  /** Posts an event delivered before once more, freshly signed, as Stripe retries. */
  resend(eventId: string): Promise<Delivery>;
  /** Waits for the webhook that follows a successful confirm of `intentId`. */
  webhookFor(intentId: string, timeoutMs?: number): Promise<Delivery>;
  deliveries(): Delivery[];
  close(): Promise<void>;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** `Stripe-Signature` for `payload` at `timestamp`, as Stripe signs it. */
export function signature(payload: string, timestamp = now(), secret = WEBHOOK_SECRET): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** `metadata[key]=value` fields of a form. */
function metadataOf(form: URLSearchParams): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of form) {
    const m = /^metadata\[(.+)\]$/.exec(key);
    if (m) metadata[m[1]] = value;
  }
  return metadata;
}

function stripeError(type: string, message: string, extra: Json = {}): Json {
  return { error: { type, message, ...extra } };
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'content-type',
  'access-control-max-age': '600',
};

/** The stand-in Stripe.js: `window.Stripe(key)` with elements and confirmPayment. */
function stripeJs(base: string): string {
  return `// Stand-in Stripe.js for Alumia's end-to-end tests (fake-stripe.ts).
(function () {
  "use strict";
  var API = ${JSON.stringify(base)};
  var mounts = 0;
  function digits(s) { return String(s || "").replace(/\\D/g, ""); }
  function field(root, id, label, attrs) {
    var wrap = document.createElement("div");
    wrap.style.cssText = "display:flex;flex-direction:column;gap:4px;min-width:0";
    var l = document.createElement("label");
    l.htmlFor = id;
    l.textContent = label;
    l.style.cssText = "font-size:14px;font-weight:500;color:#1e293b";
    var input = document.createElement("input");
    input.id = id;
    for (var k in attrs) input.setAttribute(k, attrs[k]);
    input.style.cssText = "border:1px solid #cbd5e1;border-radius:6px;padding:6px 10px;font-size:14px;width:100%;box-sizing:border-box";
    wrap.appendChild(l);
    wrap.appendChild(input);
    root.appendChild(wrap);
    return input;
  }
  function Stripe(publishableKey) {
    if (!(this instanceof Stripe)) return new Stripe(publishableKey);
    if (typeof publishableKey !== "string" || publishableKey.indexOf("pk_") !== 0) {
      throw new Error("IntegrationError: Invalid value for Stripe(): apiKey should be a publishable key (pk_…); got " + JSON.stringify(publishableKey) + ".");
    }
    this._key = publishableKey;
  }
  Stripe.prototype.elements = function (options) {
    if (!options || typeof options.clientSecret !== "string" || !/_secret_/.test(options.clientSecret)) {
      throw new Error("IntegrationError: elements() needs the clientSecret of a PaymentIntent.");
    }
    var elements = { _clientSecret: options.clientSecret, _payment: null };
    elements.create = function (type) {
      if (type !== "payment") throw new Error("IntegrationError: this stand-in only has the payment element, not " + type + ".");
      var element = { _root: null };
      element.mount = function (target) {
        var node = typeof target === "string" ? document.querySelector(target) : target;
        if (!node) throw new Error("IntegrationError: the element to mount into does not exist.");
        var n = ++mounts;
        var root = document.createElement("fieldset");
        root.setAttribute("data-testid", "fake-stripe-payment-form");
        root.style.cssText = "display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr) minmax(0,1fr);gap:12px;max-width:36rem;border:1px solid #e2e8f0;border-radius:8px;padding:12px;margin:0";
        var legend = document.createElement("legend");
        legend.textContent = "Card (test stand-in for Stripe)";
        legend.style.cssText = "font-size:12px;color:#475569;padding:0 4px";
        root.appendChild(legend);
        element._card = field(root, "fake-stripe-card-" + n, "Card number", { inputmode: "numeric", autocomplete: "cc-number", placeholder: "1234 1234 1234 1234" });
        element._expiry = field(root, "fake-stripe-expiry-" + n, "Expiry", { autocomplete: "cc-exp", placeholder: "MM / YY" });
        element._cvc = field(root, "fake-stripe-cvc-" + n, "CVC", { inputmode: "numeric", autocomplete: "cc-csc", placeholder: "CVC" });
        node.appendChild(root);
        element._root = root;
      };
      element.unmount = function () { if (element._root) element._root.remove(); element._root = null; };
      elements._payment = element;
      return element;
    };
    return elements;
  };
  Stripe.prototype.confirmPayment = async function (options) {
    var elements = options && options.elements;
    var element = elements && elements._payment;
    if (!element || !element._root || !element._root.isConnected) {
      return { error: { type: "validation_error", message: "The payment element is not mounted." } };
    }
    var card = digits(element._card.value);
    if (card.length < 12) {
      return { error: { type: "validation_error", code: "incomplete_number", message: "Your card number is incomplete." } };
    }
    var body = {
      publishable_key: this._key,
      client_secret: elements._clientSecret,
      card_number: card,
      expiry: element._expiry.value,
      return_url: options.confirmParams && options.confirmParams.return_url,
      redirect: options.redirect,
    };
    var response;
    try {
      response = await fetch(API + "test/confirm", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      return { error: { type: "api_connection_error", message: "We could not reach Stripe; try again." } };
    }
    var answer = await response.json();
    if (answer.error) return { error: answer.error };
    return { paymentIntent: answer };
  };
  window.Stripe = Stripe;
})();
`;
}

/** Starts the fake on 127.0.0.1 and an OS-chosen port. */
export async function startFakeStripe(): Promise<FakeStripe> {
  let next = 0;
  const id = (prefix: string) => `${prefix}_e2e${(++next).toString().padStart(6, '0')}${randomBytes(3).toString('hex')}`;
  const intents = new Map<string, PaymentIntent>();
  const customers = new Map<string, Json>();
  const invoices: Json[] = [];
  const idempotent = new Map<string, { digest: string; status: number; answer: Json }>();
  const received: Received[] = [];
  const deliveries: Delivery[] = [];
  const payloads = new Map<string, { type: string; objectId: string; payload: string }>();
  const waiting = new Map<string, Promise<Delivery>>();
  let webhookUrl: string | undefined;
  let base = '';

  function send(res: http.ServerResponse, status: number, body: Json): number {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req'), ...CORS });
    res.end(JSON.stringify(body));
    return status;
  }

  /** Once per Idempotency-Key, as Stripe: same body replays, another body is a 400. */
  function once(
    res: http.ServerResponse,
    key: string | undefined,
    body: string,
    create: () => [number, Json],
  ): number {
    const digest = createHash('sha256').update(body).digest('hex');
    if (key) {
      const earlier = idempotent.get(key);
      if (earlier) {
        if (earlier.digest !== digest) {
          return send(
            res,
            400,
            stripeError(
              'idempotency_error',
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            ),
          );
        }
        res.setHeader('idempotent-replayed', 'true');
        return send(res, earlier.status, earlier.answer);
      }
    }
    const [status, answer] = create();
    if (key) idempotent.set(key, { digest, status, answer });
    return send(res, status, answer);
  }

  function createCustomer(form: URLSearchParams): [number, Json] {
    const customer = {
      id: id('cus'),
      object: 'customer',
      created: now(),
      livemode: false,
      name: form.get('name'),
      email: form.get('email'),
      metadata: metadataOf(form),
      invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    };
    customers.set(customer.id, customer);
    return [200, customer];
  }

  function createIntent(form: URLSearchParams): [number, Json] {
    const amount = Number(form.get('amount'));
    const currency = form.get('currency');
    if (!Number.isInteger(amount) || amount <= 0) {
      return [400, stripeError('invalid_request_error', 'Missing required param: amount.', { param: 'amount' })];
    }
    if (!currency) {
      return [400, stripeError('invalid_request_error', 'Missing required param: currency.', { param: 'currency' })];
    }
    const customer = form.get('customer');
    if (customer && !customers.has(customer)) {
      return [400, stripeError('invalid_request_error', `No such customer: '${customer}'`, { param: 'customer' })];
    }
    const piId = id('pi');
    const intent: PaymentIntent = {
      id: piId,
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      automatic_payment_methods:
        form.get('automatic_payment_methods[enabled]') === 'true' ? { allow_redirects: 'always', enabled: true } : null,
      capture_method: 'automatic_async',
      client_secret: `${piId}_secret_${randomBytes(12).toString('hex')}`,
      confirmation_method: 'automatic',
      created: now(),
      currency,
      customer,
      description: form.get('description'),
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: metadataOf(form),
      payment_method: null,
      payment_method_types: ['card'],
      status: 'requires_payment_method',
    };
    intents.set(piId, intent);
    return [200, intent];
  }

  function listInvoices(url: URL): Json {
    const customer = url.searchParams.get('customer');
    const limit = Number(url.searchParams.get('limit') ?? '10');
    const data = invoices
      .filter((i) => !customer || i.customer === customer)
      .sort((a, b) => (b.created as number) - (a.created as number))
      .slice(0, limit);
    return { object: 'list', data, has_more: false, url: '/v1/invoices' };
  }

  function payIntent(intent: PaymentIntent): PaymentIntent {
    intent.status = 'succeeded';
    intent.amount_received = intent.amount;
    intent.latest_charge = id('ch');
    intent.payment_method = id('pm');
    intent.last_payment_error = null;
    // A receipt the billing page lists under "Invoices and receipts".
    const invoiceId = id('in');
    invoices.push({
      id: invoiceId,
      object: 'invoice',
      customer: intent.customer,
      number: `E2E-${String(invoices.length + 1).padStart(4, '0')}`,
      status: 'paid',
      total: intent.amount,
      amount_paid: intent.amount,
      currency: intent.currency,
      created: now(),
      hosted_invoice_url: `${base}invoices/${invoiceId}`,
      payment_intent: intent.id,
    });
    return intent;
  }

  async function deliver(type: string, object: Json): Promise<Delivery> {
    if (!webhookUrl) throw new Error('fake Stripe: no webhook URL set');
    const event = {
      id: id('evt'),
      object: 'event',
      type,
      created: now(),
      livemode: false,
      api_version: '2025-03-31.basil',
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object },
    };
    const payload = JSON.stringify(event);
    payloads.set(event.id, { type, objectId: String(object.id), payload });
    return postEvent(event.id);
  }

  async function postEvent(eventId: string): Promise<Delivery> {
    const sent = payloads.get(eventId);
    if (!sent) throw new Error(`fake Stripe: no event ${eventId} was sent`);
    if (!webhookUrl) throw new Error('fake Stripe: no webhook URL set');
    const { status, body } = await post(webhookUrl, sent.payload, {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': signature(sent.payload),
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    });
    const delivery = { eventId, type: sent.type, objectId: sent.objectId, status, body };
    deliveries.push(delivery);
    return delivery;
  }

  /** POST /test/confirm, from the stand-in Stripe.js in the page. */
  function confirm(res: http.ServerResponse, raw: string): number {
    let body: { publishable_key?: string; client_secret?: string; card_number?: string };
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, 400, stripeError('invalid_request_error', 'The request is not JSON.'));
    }
    if (body.publishable_key !== PUBLISHABLE_KEY) {
      return send(res, 401, stripeError('invalid_request_error', `Invalid API Key provided: ${body.publishable_key}`));
    }
    const piId = String(body.client_secret ?? '').split('_secret_')[0];
    const intent = intents.get(piId);
    if (!intent || intent.client_secret !== body.client_secret) {
      return send(res, 400, stripeError('invalid_request_error', `No such payment_intent: '${piId}'`, { code: 'resource_missing' }));
    }
    if (intent.status === 'succeeded') {
      return send(
        res,
        400,
        stripeError('invalid_request_error', 'You cannot confirm this PaymentIntent because it has already succeeded.', {
          code: 'payment_intent_unexpected_state',
        }),
      );
    }
    if (body.card_number === DECLINED_CARD.replace(/\s/g, '')) {
      const error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
        payment_intent: { id: intent.id, status: 'requires_payment_method' },
      };
      intent.last_payment_error = { type: error.type, code: error.code, message: error.message };
      return send(res, 402, { error });
    }
    payIntent(intent);
    // Stripe.js answers a trimmed PaymentIntent to the browser.
    const status = send(res, 200, {
      id: intent.id,
      object: 'payment_intent',
      amount: intent.amount,
      currency: intent.currency,
      status: intent.status,
      client_secret: intent.client_secret,
    });
    // Then, on its own time, Stripe tells the server.
    const delivery = new Promise<Delivery>((resolve) => setTimeout(resolve, 50)).then(() =>
      deliver('payment_intent.succeeded', { ...intent }),
    );
    delivery.catch(() => {});
    waiting.set(intent.id, delivery);
    return status;
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<number> {
    const url = new URL(req.url ?? '/', base);
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, CORS);
      res.end();
      return 204;
    }
    if (method === 'GET' && url.pathname === '/v3/') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store', ...CORS });
      res.end(stripeJs(base));
      return 200;
    }
    if (method === 'POST' && url.pathname === '/test/confirm') return confirm(res, raw);
    const hosted = /^\/invoices\/([^/]+)$/.exec(url.pathname);
    if (method === 'GET' && hosted) {
      const invoice = invoices.find((i) => i.id === hosted[1]);
      if (!invoice) return send(res, 404, stripeError('invalid_request_error', 'No such invoice'));
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><title>Receipt ${invoice.number}</title><h1>Receipt ${invoice.number}</h1>` +
          `<p>Paid ${(invoice.total as number) / 100} ${String(invoice.currency).toUpperCase()}</p>`,
      );
      return 200;
    }
    if (url.pathname.startsWith('/v1/')) {
      if (req.headers.authorization !== `Bearer ${SECRET_KEY}`) {
        return send(
          res,
          401,
          stripeError('invalid_request_error', `Invalid API Key provided: ${req.headers.authorization ?? '(none)'}`),
        );
      }
      const key = req.headers['idempotency-key'] as string | undefined;
      const form = new URLSearchParams(raw);
      if (method === 'POST' && url.pathname === '/v1/customers') return once(res, key, raw, () => createCustomer(form));
      if (method === 'POST' && url.pathname === '/v1/payment_intents') {
        return once(res, key, raw, () => createIntent(form));
      }
      const pi = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
      if (method === 'GET' && pi) {
        const intent = intents.get(decodeURIComponent(pi[1]));
        return intent
          ? send(res, 200, intent)
          : send(res, 404, stripeError('invalid_request_error', `No such payment_intent: '${pi[1]}'`, { code: 'resource_missing' }));
      }
      if (method === 'GET' && url.pathname === '/v1/invoices') return send(res, 200, listInvoices(url));
    }
    return send(
      res,
      404,
      stripeError('invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname}).`),
    );
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      route(req, res, raw)
        .catch((error) => {
          if (res.headersSent) {
            res.end();
            return 500;
          }
          return send(res, 500, stripeError('api_error', `fake Stripe failed: ${error}`));
        })
        .then((status) =>
          received.push({
            method: req.method ?? '',
            path: new URL(req.url ?? '/', base).pathname,
            query: new URL(req.url ?? '/', base).search,
            body: raw,
            idempotencyKey: req.headers['idempotency-key'] as string | undefined,
            status,
          }),
        );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  return {
    base,
    jsUrl: `${base}v3/`,
    env: () => ({
      ALUMIA_STRIPE_SECRET_KEY: SECRET_KEY,
      ALUMIA_STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ALUMIA_STRIPE_PUBLISHABLE_KEY: PUBLISHABLE_KEY,
      ALUMIA_STRIPE_API_BASE: base,
      ALUMIA_STRIPE_JS_URL: `${base}v3/`,
    }),
    setWebhookUrl: (url) => {
      webhookUrl = url;
    },
    intent: (piId) => intents.get(piId),
    intents: () => [...intents.values()],
    customers: () => [...customers.values()],
    invoices: () => [...invoices],
    requests: () => [...received],
    unhandled: () => received.filter((r) => r.status === 404),
    pay: (piId) => {
      const intent = intents.get(piId);
      if (!intent) throw new Error(`fake Stripe: no PaymentIntent ${piId}`);
      return payIntent(intent);
    },
    deliver,
    resend: postEvent,
    webhookFor: async (intentId, timeoutMs = 10_000) => {
      const started = Date.now();
      while (!waiting.has(intentId)) {
        if (Date.now() - started > timeoutMs) throw new Error(`fake Stripe: ${intentId} was never confirmed`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return waiting.get(intentId)!;
    },
    deliveries: () => [...deliveries],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A POST with node:http (no fetch: nothing added to the headers Stripe sends). */
function post(
  target: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      target,
      { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${target} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}
