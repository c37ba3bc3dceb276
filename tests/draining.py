"""A Flask test client that stores what each request queued before the test looks.

Doors only accept (they put a job in the intake queue and answer); under `serve` a drain thread
stores the jobs, in the cloud Cloud Tasks calls `/jobs/intake`. In-process tests play that
part explicitly: after every POST this client drains the queue once, the way the writer would,
and keeps what the writer did on the reply (`reply.stored`: one action per stored job, such as
"created", "joined", "redelivered"; `reply.crashed`: the exception that killed the writer, when
a test made it die). Nothing about the door's own answer is changed.
"""
from __future__ import annotations

from functions.services.intake_worker import DrainReport, drain_all


def drain(svc) -> DrainReport:
    return drain_all(svc, svc.queue)


class DrainingClient:
    def __init__(self, client, svc):
        self.client = client
        self.svc = svc

    def __getattr__(self, name):
        return getattr(self.client, name)

    def post(self, *args, **kwargs):
        reply = self.client.post(*args, **kwargs)
        reply.crashed = None
        try:
            report = drain(self.svc)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # the writer process died (tests' Crash): the door had answered
            reply.crashed = e
            report = DrainReport()
        reply.drained = report
        reply.stored = [r.action for r in report.results]
        reply.stored_tickets = [r.ticket for r in report.results if r.ticket]
        return reply


def draining_client(svc):
    from functions.server import make_app

    return DrainingClient(make_app(svc).test_client(), svc)
