"""A script whose service ships its own swagger.json / swagger3.json next to it (the app root)."""


def init():
    pass


def run(raw_data):
    return raw_data
