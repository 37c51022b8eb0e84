"""What api_01, api_02 and api_03 share: settings from the environment, the
TracerProvider that exports spans to Zipkin (or over OTLP), the
instrumented Flask app, calls to another service, and the threaded HTTP
server that flushes its spans on SIGTERM.

Tracing is OpenTelemetry-Python's, left at its defaults and written the way
its users write it: the SDK's TracerProvider with a BatchSpanProcessor and
the exporter OTEL_TRACES_EXPORTER names (the Zipkin JSON exporter unless it
says `otlp`: then the OTLP/HTTP protobuf exporter), the Flask
instrumentation for the SERVER span and the requests instrumentation for
each CLIENT span. Propagation is the
global propagator, W3C Trace Context + baggage unless OTEL_PROPAGATORS says
otherwise: nothing here names a header.
"""

import contextvars
import functools
import logging
import os
import signal
import sys
import threading
import time

import requests
from flask import Flask, g, jsonify
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import StatusCode
from werkzeug.serving import make_server

DEFAULT_ZIPKIN_ENDPOINT = "http://localhost:9411/api/v2/spans"
# The Flask instrumentation matches these regexes against the full URL
# (scheme and host included), so a bare "health" would also skip any path or
# host that merely contains the word.
UNTRACED_URLS = r"://[^/]+/health(\?|$)"

# Which service the current call goes to: the requests instrumentation makes
# the CLIENT span deep inside requests, and its hook sees only the request.
_callee = contextvars.ContextVar("callee", default=None)


def env_int(name, default):
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        sys.exit(f"{name}={value!r} is not a whole number of 0 or more")
    return number


def env_url(name, default):
    return (os.environ.get(name) or default).rstrip("/") + "/"


def traces_exporter():
    """The exporter OTEL_TRACES_EXPORTER names, one of the two our services
    take too: unset or `zipkin`, OpenTelemetry's Zipkin JSON exporter to
    OTEL_EXPORTER_ZIPKIN_ENDPOINT; `otlp`, its OTLP/HTTP protobuf exporter,
    which reads OTEL_EXPORTER_OTLP_ENDPOINT (a base, to which it adds
    /v1/traces) and OTLP's other variables itself. Anything else stops the
    service: a typo must not quietly send the spans elsewhere."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip() or "zipkin"
    if name == "zipkin":
        endpoint = os.environ.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT") or DEFAULT_ZIPKIN_ENDPOINT
        return ZipkinExporter(endpoint=endpoint)
    if name == "otlp":
        return OTLPSpanExporter()
    sys.exit(f"OTEL_TRACES_EXPORTER={name!r}: expected zipkin or otlp (one exporter)")


def _client_request_hook(span, request):
    callee = _callee.get()
    if callee and span.is_recording():
        # The JSON exporter keeps this as a plain tag; it has no
        # remoteEndpoint mapping (see README.md).
        span.set_attribute("peer.service", callee)


def _client_response_hook(span, request, response):
    # The instrumentation marks a 5xx answer as an error with no text, which
    # Zipkin would show as an empty `error` tag; say which callee and what.
    if response.status_code >= 500 and span.is_recording():
        callee = _callee.get() or request.url
        span.set_status(StatusCode.ERROR, f"{callee} answered {response.status_code}")


def _server_response_hook(span, status, response_headers):
    # Runs after the instrumentation has set the span's status from the HTTP
    # code (an error with no text for a 5xx); this gives it the reply's text.
    error = g.get("reply_error")
    if error and span is not None and span.is_recording():
        span.set_status(StatusCode.ERROR, error)


class Reply:
    """A JSON answer, built up as the downstream calls come back."""

    def __init__(self, service, message):
        self.status = 200
        self.body = {"service": service, "message": message}
        # The context is valid even when the trace is not sampled.
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            self.body["trace_id"] = trace.format_trace_id(context.trace_id)

    def downstream(self, callee, answer, error=None, status=502):
        self.body.setdefault("downstream", {})[callee] = answer
        if error:
            # A too slow callee (504) outranks a failed one (502), as in Rust.
            if self.status == 200 or status == 504:
                self.status = status
            earlier = self.body.get("error")
            self.body["error"] = f"{earlier}; {error}" if earlier else error
            self.body.setdefault("failed", []).append(callee)


class Service:
    """One service: its settings, its Flask app and its tracing."""

    def __init__(self, default_name, default_port):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        self.name = os.environ.get("OTEL_SERVICE_NAME") or default_name
        self.host = os.environ.get("HOST") or "0.0.0.0"
        self.port = env_int("PORT", default_port)
        self.timeout_s = env_int("DOWNSTREAM_TIMEOUT_MS", 2000) / 1000

        # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; the explicit
        # service.name wins, so the spans and the answers name one service.
        self.provider = TracerProvider(resource=Resource.create({SERVICE_NAME: self.name}))
        # The batch processor exports from its own thread, off the request
        # path, every OTEL_BSP_SCHEDULE_DELAY ms (it reads OTEL_BSP_* itself);
        # what is still queued at SIGTERM goes out in serve()'s shutdown.
        self.provider.add_span_processor(BatchSpanProcessor(traces_exporter()))
        trace.set_tracer_provider(self.provider)
        # Named after the service: the scope of its own spans (`work`), as
        # the instrumentations name theirs after themselves.
        self.tracer = trace.get_tracer(self.name)

        self.app = Flask(self.name)
        self.app.add_url_rule(
            "/health", "health", lambda: ("ok", 200, {"Content-Type": "text/plain"})
        )
        FlaskInstrumentor().instrument_app(
            self.app, excluded_urls=UNTRACED_URLS, response_hook=_server_response_hook
        )
        # Patches requests.Session for the whole process, the exporters' own
        # sessions too (both send with requests); the SDK suppresses
        # instrumentation while it exports, so the uploads are not traced.
        RequestsInstrumentor().instrument(
            request_hook=_client_request_hook, response_hook=_client_response_hook
        )

    def route(self, rule):
        """Registers a GET view that returns a Reply; the Flask
        instrumentation has already made the SERVER span around it."""

        def register(view):
            @functools.wraps(view)
            def answer():
                reply = view()
                if reply.status >= 500:
                    g.reply_error = reply.body.get("error", str(reply.status))
                return jsonify(reply.body), reply.status

            self.app.add_url_rule(rule, view.__name__, answer, methods=["GET"])
            return view

        return register

    def reply(self, message):
        return Reply(self.name, message)

    def call(self, reply, callee, url):
        """GETs `url` (the instrumentation adds the CLIENT span and the
        trace context headers) and records the callee's answer, or what went
        wrong, in `reply`."""
        token = _callee.set(callee)
        try:
            answer, error, status = self._get(callee, url)
        finally:
            _callee.reset(token)
        reply.downstream(callee, answer, error, status)

    def _get(self, callee, url):
        try:
            response = requests.get(url, timeout=self.timeout_s)
        except requests.Timeout:
            error = f"{callee} did not answer within {self.timeout_s:g} s"
            return {"error": error}, error, 504
        except requests.RequestException as failure:
            error = f"{callee} could not be reached: {failure}"
            return {"error": error}, error, 502
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        if response.ok:
            return answer, None, 200
        error = f"{callee} answered {response.status_code}"
        return {"error": error, "answer": answer}, error, 502

    def work(self, ms):
        """Stands in for real work, in a local span of its own."""
        with self.tracer.start_as_current_span("work", attributes={"work_ms": ms}):
            time.sleep(ms / 1000)

    def serve(self):
        # make_server rather than app.run: it tells which port PORT=0 got.
        server = make_server(self.host, self.port, self.app, threaded=True)
        self.port = server.server_port
        where = f"http://{self.host}:{self.port}"
        print(f"{self.name} listening on {where} (opentelemetry-python)", flush=True)

        def stop(signum, frame):
            # The handler runs on the thread inside serve_forever, and
            # shutdown() waits for serve_forever to return: ask from another.
            threading.Thread(target=server.shutdown, daemon=True).start()

        # Python's default for SIGTERM is to die at once, with the spans
        # still queued in the batch processor: the SDK's own shutdown at exit
        # (an atexit hook) never runs then. The interop matrix holds the
        # batch delay past each row, so it fails if this flush is lost.
        signal.signal(signal.SIGTERM, stop)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            # Requests still being answered run on daemon threads (werkzeug's
            # choice: an idle keep-alive connection would otherwise hold the
            # exit forever); their SERVER spans end after this and are lost.
            # Shutting the provider down exports every span still queued in
            # the batch processor, and waits for that upload (the atexit hook
            # then finds it shut down already).
            self.provider.shutdown()
        sys.exit(0)
