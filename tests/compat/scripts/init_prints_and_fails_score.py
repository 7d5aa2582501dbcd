"""init() prints, then raises: both servers must log both, with the traceback, on stdout and exit 3."""


def init():
    print("loading the model from init_prints_and_fails_score.py")
    raise RuntimeError("the model file is corrupt (compat fixture)")


def run(raw_data):
    return raw_data
