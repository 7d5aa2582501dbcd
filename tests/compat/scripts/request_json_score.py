"""@rawhttp run() that reads request.json (werkzeug raises for a body that is not JSON)."""

from azureml.contrib.services.aml_request import rawhttp


def init():
    pass


@rawhttp
def run(request):
    payload = request.json
    return {"keys": sorted(payload)}
