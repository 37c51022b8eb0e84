/**
 * What api_01, api_02 and api_03 share: settings from the environment, the
 * zipkin-js Tracer that reports spans to Zipkin, the traced express app,
 * calls to another service, and the HTTP server that flushes its spans on
 * SIGTERM.
 *
 * Tracing is zipkin-js's, written the way its users write it: a Tracer with
 * a BatchRecorder and zipkin-transport-http's HttpLogger (JSON v2), the CLS
 * context that zipkin-js recommends on Node (with its async/await support,
 * since the handlers await their calls), zipkin-instrumentation-express's
 * middleware for the SERVER span, and node-fetch wrapped by
 * zipkin-instrumentation-fetch for each CLIENT span. B3 is zipkin-js's
 * own: nothing here names a header.
 */

'use strict';

const express = require('express');
const nodeFetch = require('node-fetch');
const {BatchRecorder, Tracer, jsonEncoder} = require('zipkin');
const CLSContext = require('zipkin-context-cls');
const {expressMiddleware} = require('zipkin-instrumentation-express');
const wrapFetch = require('zipkin-instrumentation-fetch');
const {HttpLogger} = require('zipkin-transport-http');

const DEFAULT_ZIPKIN_ENDPOINT = 'http://localhost:9411/api/v2/spans';
// The HttpLogger's own default: spans leave at most this long after they end.
const DEFAULT_HTTP_INTERVAL_MS = 1000;
// One upload to Zipkin may take this long (node-fetch's `timeout`, which the
// HttpLogger passes on), so a stop never hangs on an unreachable Zipkin.
const UPLOAD_TIMEOUT_MS = 5000;
// At a stop, requests still being answered get this long to finish before
// their connections are closed; then the spans go out.
const STOP_GRACE_MS = 5000;

/** `name` as a whole number of at least `min`, or `fallback` when unset. */
function envInt(name, fallback, min = 0) {
  const value = process.env[name] || '';
  if (value === '') {
    return fallback;
  }
  const number = /^[0-9]+$/.test(value) ? Number(value) : -1;
  if (number < min) {
    console.error(`${name}=${JSON.stringify(value)} is not a whole number of ${min} or more`);
    process.exit(1);
  }
  return number;
}

/** `name` as a base URL ending in one slash, or `fallback` when unset. */
function envUrl(name, fallback) {
  return (process.env[name] || fallback).replace(/\/+$/, '') + '/';
}

/** A JSON answer, built up as the downstream calls come back. */
class Reply {
  constructor(service, traceId, message) {
    this.status = 200;
    this.body = {service, message};
    // The id is there even when the trace is not sampled.
    if (traceId) {
      this.body.trace_id = traceId;
    }
  }

  downstream(callee, answer, error, status = 502) {
    this.body.downstream = this.body.downstream || {};
    this.body.downstream[callee] = answer;
    if (error) {
      // A too slow callee (504) outranks a failed one (502), as in Rust.
      if (this.status === 200 || status === 504) {
        this.status = status;
      }
      this.body.error = this.body.error ? `${this.body.error}; ${error}` : error;
      this.body.failed = this.body.failed || [];
      this.body.failed.push(callee);
    }
  }
}

/** One service: its settings, its express app and its tracing. */
class Service {
  constructor(defaultName, defaultPort) {
    this.name = process.env.OTEL_SERVICE_NAME || defaultName;
    this.host = process.env.HOST || '0.0.0.0';
    this.port = envInt('PORT', defaultPort);
    this.timeoutMs = envInt('DOWNSTREAM_TIMEOUT_MS', 2000);

    // Uploads still on their way to Zipkin: the HttpLogger starts them and
    // forgets them, so the stop waits for them here.
    this.uploads = new Set();
    this.logger = new HttpLogger({
      endpoint: process.env.OTEL_EXPORTER_ZIPKIN_ENDPOINT || DEFAULT_ZIPKIN_ENDPOINT,
      jsonEncoder: jsonEncoder.JSON_V2,
      httpInterval: envInt('ZIPKIN_HTTP_INTERVAL_MS', DEFAULT_HTTP_INTERVAL_MS, 1),
      timeout: UPLOAD_TIMEOUT_MS,
      // node-fetch, as on the instrumented calls: left alone, the HttpLogger
      // takes Node's global fetch, which ignores its `timeout`.
      fetchImplementation: (url, options) => this.upload(url, options),
    });
    this.recorder = new BatchRecorder({logger: this.logger});
    this.tracer = new Tracer({
      ctxImpl: new CLSContext('zipkin', true),
      recorder: this.recorder,
      localServiceName: this.name,
    });

    this.app = express();
    // Before the middleware: not traced.
    this.app.get('/health', (req, res) => res.type('text/plain').send('ok'));
    this.app.use(expressMiddleware({tracer: this.tracer}));
    // One instrumented fetch per callee: the CLIENT span names it as its
    // remote service.
    this.fetchers = new Map();
  }

  /** Registers a traced GET route whose `view` gives a Reply. */
  route(path, view) {
    this.app.get(path, async (req, res) => {
      let reply;
      try {
        reply = await view();
      } catch (error) {
        // Express 4 does not catch a rejected handler.
        console.error(`${this.name}: ${error.stack || error}`);
        reply = this.reply('failed');
        reply.status = 500;
        reply.body.error = String(error);
      }
      res.status(reply.status).json(reply.body);
    });
  }

  /** A Reply naming this service and the trace of the request in scope. */
  reply(message) {
    return new Reply(this.name, this.tracer.id.traceId, message);
  }

  /** GETs `url` (the instrumentation adds the CLIENT span and the B3
   * headers) and records the callee's answer, or what went wrong, in
   * `reply`. */
  async call(reply, callee, url) {
    const {answer, error, status} = await this.get(callee, url);
    reply.downstream(callee, answer, error, status);
  }

  async get(callee, url) {
    if (!this.fetchers.has(callee)) {
      this.fetchers.set(
        callee,
        wrapFetch(nodeFetch, {tracer: this.tracer, remoteServiceName: callee}),
      );
    }
    const fetch = this.fetchers.get(callee);
    let response;
    let text;
    try {
      // node-fetch's timeout covers the answer's body too.
      response = await fetch(url, {timeout: this.timeoutMs});
      text = await response.text();
    } catch (failure) {
      if (failure.type === 'request-timeout' || failure.type === 'body-timeout') {
        const error = `${callee} did not answer within ${this.timeoutMs / 1000} s`;
        return {answer: {error}, error, status: 504};
      }
      const error = `${callee} could not be reached: ${failure.message}`;
      return {answer: {error}, error, status: 502};
    }
    let answer;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = text;
    }
    if (response.ok) {
      return {answer, error: null, status: 200};
    }
    const error = `${callee} answered ${response.status}`;
    return {answer: {error, answer}, error, status: 502};
  }

  /** Stands in for real work, in a local span of its own. */
  work(ms) {
    return this.tracer.local('work', () => {
      this.tracer.recordBinary('work_ms', String(ms));
      return new Promise((resolve) => setTimeout(resolve, ms));
    });
  }

  /** One upload of spans to Zipkin, kept until it is answered. */
  upload(url, options) {
    const sent = nodeFetch(url, options);
    this.uploads.add(sent);
    const done = () => this.uploads.delete(sent);
    sent.then(done, done);
    return sent;
  }

  serve() {
    const server = this.app.listen(this.port, this.host, () => {
      this.port = server.address().port;
      const where = `http://${this.host}:${this.port}`;
      console.log(`${this.name} listening on ${where} (zipkin-js)`);
    });
    server.on('error', (error) => {
      console.error(`${this.name} cannot listen: ${error.message}`);
      process.exit(1);
    });
    // Node's default for SIGTERM is to die at once, with the spans still in
    // the HttpLogger's queue (it sends every ZIPKIN_HTTP_INTERVAL_MS). The
    // interop matrix holds that interval past each row, so it fails if this
    // flush is lost.
    const stop = () => this.stop(server);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }

  async stop(server) {
    // Stops listening and closes the idle keep-alive connections; a request
    // being answered finishes first, and its SERVER span with it.
    const closed = new Promise((resolve) => server.close(resolve));
    const grace = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
    await closed;
    clearTimeout(grace);
    // Spans not finished yet go too (the recorder holds them until they
    // end); then the HttpLogger's queue, and every upload is waited for.
    this.recorder.flush();
    this.logger.processQueue(this.logger.fetchImplementation);
    const results = await Promise.allSettled([...this.uploads]);
    const taken = (result) => result.status === 'fulfilled' && result.value.ok;
    const failed = results.filter((result) => !taken(result)).length;
    console.log(`${this.name} stopped: ${results.length} last uploads, ${failed} failed`);
    process.exit(0);
  }
}

module.exports = {Service, envInt, envUrl};
