"""A @rawhttp script that reports the process environment azmlinfsrv sets up, and which port it was reached on.

Ports differ between the two servers (each has its own free port), so the script answers whether
SERVER_PORT / HEALTH_PORT name the port the request came in on, not the numbers themselves.
"""

import os

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse

VARIABLES = ("AZUREML_MODEL_DIR", "AML_APP_ROOT", "AZUREML_ENTRY_SCRIPT", "WORKER_COUNT", "TRANSPORT_PROTOCOL",
             "AML_APP_INSIGHTS_ENABLED", "HTTP_X_MS_SERVER_VERSION", "SEPERATE_HEALTH_ENDPOINT", "SERVER_SOFTWARE")
AT_IMPORT = {name: os.environ.get(name) for name in VARIABLES}
PORTS_AT_IMPORT = (os.environ.get("SERVER_PORT"), os.environ.get("HEALTH_PORT"))


def init():
    global AT_INIT
    AT_INIT = {name: os.environ.get(name) for name in VARIABLES}
    print("init() of environment_score.py ran")


@rawhttp
def run(request):
    port = request.host.rsplit(":", 1)[-1]
    server_port, health_port = PORTS_AT_IMPORT
    return AMLResponse({
        "import": AT_IMPORT,
        "init": AT_INIT,
        "server_port_set": server_port is not None,
        "reached_on": "server_port" if port == server_port else "health_port" if port == health_port else "other",
        "health_port_is_server_port": health_port == server_port,
    }, 200, json_str=True)
