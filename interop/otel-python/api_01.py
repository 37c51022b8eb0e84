"""api_01 in OpenTelemetry-Python: the front door. It calls api_02, then
api_03 (one after the other, as the original demo does), and answers with
both answers and the trace id.

Run: `python api_01.py` (settings in README.md).
"""

from common import Service, env_url

service = Service("api_01", 5001)
API_02_URL = env_url("API_02_URL", "http://localhost:5002")
API_03_URL = env_url("API_03_URL", "http://localhost:5003")


@service.route("/")
def index():
    reply = service.reply("api_01 called api_02 and api_03")
    service.call(reply, "api_02", API_02_URL)
    service.call(reply, "api_03", API_03_URL)
    return reply


if __name__ == "__main__":
    service.serve()
