"""api_03 in OpenTelemetry-Python: the last service in the chain. It does
one unit of work (a sleep of WORK_MS milliseconds, default 100, 0 allowed)
in a local `work` span, so the waterfall shows a duration.

Run: `python api_03.py` (settings in README.md).
"""

from common import Service, env_int

service = Service("api_03", 5003)
WORK_MS = env_int("WORK_MS", 100)


@service.route("/")
def index():
    reply = service.reply("api_03 did its work")
    service.work(WORK_MS)
    reply.body["work_ms"] = WORK_MS
    return reply


if __name__ == "__main__":
    service.serve()
