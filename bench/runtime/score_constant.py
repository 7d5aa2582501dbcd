"""A score.py whose ``run`` returns a constant: measures the server, not the model."""


def init():
    pass


def run(raw_data):
    return {"result": [0]}
