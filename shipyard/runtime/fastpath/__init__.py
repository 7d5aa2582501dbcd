"""Where Shipyard departs from plain uvicorn and plain thread hand-offs, for models that answer in microseconds.

Everything else in :mod:`shipyard.runtime` is uvicorn and asyncio used as documented. The three
modules here each re-implement or wrap one internal step, because on a small model that step costs
more than the model. Each is kept only because it was measured to save more than 5 % (issue #17);
``SHIPYARD_HTTP_FAST_PATHS=false`` turns off the first two (uvicorn's own HTTP code, unchanged),
``SHIPYARD_SCORING_MODE=thread`` the third.

* :mod:`.transport`: everything written in one event-loop step goes out in one ``send()``, so a
  response's head and body leave as one TCP segment instead of two writes.
* :mod:`.response_cycle`: the usual answer's status line and headers checked and formatted in a
  few C-level passes instead of uvicorn's Python loop per header; installed only after checking, on
  the uvicorn installed, that it writes uvicorn's exact bytes.
* :mod:`.inline`: a ``run()`` (or a batch) that has proved to take well under a millisecond is
  called on the event loop instead of paying two thread wake-ups, with ``SIGALRM`` for its timeout.

Measured 2026-12-04 on the 2-core development machine (shared, load average ~10), one worker,
the constant ``score.py`` of ``bench/runtime`` at concurrency 8, wrk on the other CPU. Instructions
per request from ``bench/runtime/instructions.py`` (callgrind: user space only, so it cannot see
the system call the transport saves); server CPU time (user + system) per request, median of 4
alternating rounds:

==========================  ====================  =====================
left out                    instructions/request  CPU µs/request
==========================  ====================  =====================
nothing (all three on)      203,958               63.1
transport                   202,253 (-0.8 %)      80.4 (+27 %)
response_cycle              224,891 (+10 %)       72.8 (+15 %)
inline (thread mode)        231,863 (+14 %)       102.3 (+62 %)
all three (plain uvicorn)   247,660 (+21 %)       115.0 (+82 %)
==========================  ====================  =====================

On a model-bound workload (``bench/batching``, the 21M-parameter MLP) the model's milliseconds
dwarf these microseconds without batching; with batching, a request's own CPU share is a few
hundred microseconds and the HTTP path is a real part of it (``bench/RESULTS.md`` compares
``shipyard-batched`` with ``shipyard-batched-plain``).
"""
