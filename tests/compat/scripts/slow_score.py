"""run() that takes longer than the scoring timeout when asked to."""

import json
import time


def init():
    pass


def run(raw_data):
    seconds = json.loads(raw_data).get("sleep", 0)
    time.sleep(seconds)
    return {"slept": seconds}
