"""api_02 in OpenTelemetry-Python: the middle service. It calls api_03 and
answers with what api_03 said.

Run: `python api_02.py` (settings in README.md).
"""

from common import Service, env_url

service = Service("api_02", 5002)
API_03_URL = env_url("API_03_URL", "http://localhost:5003")


@service.route("/")
def index():
    reply = service.reply("api_02 called api_03")
    service.call(reply, "api_03", API_03_URL)
    return reply


if __name__ == "__main__":
    service.serve()
