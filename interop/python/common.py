"""What api_01, api_02 and api_03 share: settings from the environment, the
transport that POSTs spans to Zipkin, the SERVER span around each request,
calls to another service with B3 headers, and the threaded HTTP server.

Tracing is py_zipkin's, written the way its users write it: one
`zipkin_span` per request that reports every span of the request when it
ends, child spans inside it, and B3 headers built by py_zipkin's helpers.
"""

import functools
import logging
import os
import sys
import time
from urllib.parse import urlsplit

import requests
from flask import Flask, jsonify, request
from py_zipkin import Encoding, get_default_tracer
from py_zipkin.request_helpers import create_http_headers, extract_zipkin_attrs_from_headers
from py_zipkin.transport import BaseTransportHandler
from py_zipkin.zipkin import (
    create_http_headers_for_new_span,
    zipkin_client_span,
    zipkin_server_span,
    zipkin_span,
)
from werkzeug.serving import make_server

# Every trace this service starts is recorded; a caller's decision wins.
SAMPLE_RATE = 100.0
# Spans are sent while the request is answered: an unreachable Zipkin may
# slow an answer by this much, never fail it.
ZIPKIN_TIMEOUT_S = 2.0
CALL_STYLES = ("seed", "client")

log = logging.getLogger(__name__)


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


class ZipkinTransport(BaseTransportHandler):
    """POSTs a batch of spans, already encoded as Zipkin JSON v2."""

    def __init__(self, endpoint):
        self.endpoint = endpoint

    def get_max_payload_bytes(self):
        return None

    def send(self, payload):
        # py_zipkin calls this when the request's outermost span ends, before
        # the answer goes out; losing spans is better than failing the request.
        try:
            response = requests.post(
                self.endpoint,
                data=payload,
                headers={"Content-Type": "application/json"},
                timeout=ZIPKIN_TIMEOUT_S,
            )
            response.raise_for_status()
        except requests.RequestException as error:
            log.warning("spans not sent to %s: %s", self.endpoint, error)


class Reply:
    """A JSON answer, built up as the downstream calls come back."""

    def __init__(self, service, message):
        self.status = 200
        self.body = {"service": service, "message": message}
        # The attrs exist even when the trace is not sampled.
        attrs = get_default_tracer().get_zipkin_attrs()
        if attrs:
            self.body["trace_id"] = attrs.trace_id

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
        self.call_style = os.environ.get("CALL_STYLE") or "seed"
        if self.call_style not in CALL_STYLES:
            sys.exit(f"CALL_STYLE={self.call_style!r} is not one of {', '.join(CALL_STYLES)}")
        self.timeout_s = env_int("DOWNSTREAM_TIMEOUT_MS", 2000) / 1000
        self.transport = ZipkinTransport(
            os.environ.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT")
            or "http://localhost:9411/api/v2/spans"
        )
        self.app = Flask(self.name)
        self.app.add_url_rule(
            "/health", "health", lambda: ("ok", 200, {"Content-Type": "text/plain"})
        )

    def route(self, rule):
        """Registers a traced GET view that returns a Reply."""

        def register(view):
            @functools.wraps(view)
            def traced():
                headers = request.headers
                # A request with a B3 context joins it (and its sampling
                # decision); one without gets None and starts a new trace.
                attrs = extract_zipkin_attrs_from_headers(headers, sample_rate=SAMPLE_RATE)
                # Given a sample_rate, py_zipkin rolls the dice again for an
                # unsampled caller: pass one only when starting a trace.
                if attrs is None:
                    context = {"sample_rate": SAMPLE_RATE}
                else:
                    context = {"zipkin_attrs": attrs}
                # py_zipkin marks a span built from attrs "shared" (the caller
                # reports its start) unless told otherwise; a lone sampling
                # decision (`b3: 1`) carries no ids, so this span is a root.
                # The test is pyramid_zipkin's, widened to the `b3` header.
                caller_ids = "X-B3-TraceId" in headers or "-" in headers.get("b3", "")
                with zipkin_server_span(
                    service_name=self.name,
                    span_name=f"GET {rule}",
                    transport_handler=self.transport,
                    port=self.port,
                    encoding=Encoding.V2_JSON,
                    binary_annotations={"http.request.method": "GET", "http.route": rule},
                    report_root_timestamp=not caller_ids,
                    **context,
                ) as span:
                    reply = view()
                    tags = {"http.response.status_code": str(reply.status)}
                    if reply.status >= 500:
                        tags["error"] = reply.body.get("error", str(reply.status))
                    span.update_binary_annotations(tags)
                # The spans were sent when the `with` ended: before the answer.
                return jsonify(reply.body), reply.status

            self.app.add_url_rule(rule, view.__name__, traced, methods=["GET"])
            return view

        return register

    def reply(self, message):
        return Reply(self.name, message)

    def call(self, reply, callee, url):
        """GETs `url` with the current B3 context, in the CALL_STYLE's span,
        and records the callee's answer (or what went wrong) in `reply`."""
        if self.call_style == "client":
            # The callee's SERVER span takes this CLIENT span's id: the two
            # halves of one call.
            span = zipkin_client_span(service_name=self.name, span_name="GET")
            target = urlsplit(url)
            span.add_sa_binary_annotation(
                port=target.port or 80, service_name=callee, host=target.hostname
            )
            make_headers = create_http_headers
        else:
            # The original demo: a plain span, and headers with a new span id
            # that this service never reports (the callee's SERVER span takes it).
            span = zipkin_span(service_name=self.name, span_name=f"call_{callee}")
            make_headers = create_http_headers_for_new_span
        with span:
            headers = make_headers()
            span.update_binary_annotations({"url.full": url, "peer.service": callee})
            answer, error, status = self._get(callee, url, headers)
            if error:
                span.update_binary_annotations({"error": error})
        reply.downstream(callee, answer, error, status)

    def _get(self, callee, url, headers):
        try:
            response = requests.get(url, headers=headers, timeout=self.timeout_s)
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
        tags = {"work_ms": str(ms)}
        with zipkin_span(service_name=self.name, span_name="work", binary_annotations=tags):
            time.sleep(ms / 1000)

    def serve(self):
        # make_server rather than app.run: it tells which port PORT=0 got,
        # which the spans' localEndpoint and the startup line then show.
        server = make_server(self.host, self.port, self.app, threaded=True)
        self.port = server.server_port
        where = f"http://{self.host}:{self.port}"
        print(f"{self.name} listening on {where} (CALL_STYLE={self.call_style})", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
