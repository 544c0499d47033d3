"""Running activity handlers elsewhere: rq.

``RQExecutor`` turns each polled activity task into an rq job on the queue
named after the activity's task list, so an existing rq fleet (and
rq-dashboard) serves SWF activities. The job -- ``job_func``, by default
``flowser.cli.rq_activity_job`` -- rebuilds the task from its poll answer,
connects to the same SWF backend, runs the handler (with automatic
heartbeats) and responds to SWF itself: results and failures go straight to
SWF, and a failed handler also fails the rq job. If an rq worker dies with
the job, SWF's own timeouts (start-to-close, heartbeat) close the task and the
decider sees ``ActivityTaskTimedOut``.

The poller only takes a new task while fewer than ``max_queued`` jobs wait
in the queue, so tasks are not started (in SWF's sense) long before an rq
worker can run them.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from .types import seconds
from .worker import context

if TYPE_CHECKING:
    from . import tasks
    from .worker import Runner

log = logging.getLogger("flowser.worker")

DEFAULT_JOB_FUNC = "flowser.cli.rq_activity_job"


class RQExecutor:
    def __init__(
        self,
        redis_url: str,
        *,
        activity: str,
        backend: str | None,
        domain: str | None = None,
        domain_name: str | None = None,
        queue_name: str,
        job_func: str = DEFAULT_JOB_FUNC,
        max_queued: int = 1,
    ) -> None:
        from redis import Redis

        self.connection = Redis.from_url(redis_url)
        self.spec_base = {"activity": activity, "domain": domain, "domain_name": domain_name, "backend": backend}
        self.job_func = job_func
        self.max_queued = max(1, max_queued)
        self.queue_name = queue_name
        from rq import Queue

        self.queue = Queue(queue_name, connection=self.connection)

    def wait_for_capacity(self, stopping: threading.Event) -> None:
        """Block while ``max_queued`` jobs already wait (or until stopping)."""
        while self.queue.count >= self.max_queued and not stopping.wait(0.1):
            pass

    def submit(self, runner: Runner, task: tasks.Activity) -> Any:
        activity_cls = runner.type_cls
        timeout = seconds(getattr(activity_cls, "start_to_close_timeout", None))
        raw = {k: v for k, v in task.raw.items() if k != "ResponseMetadata"}
        ctx = context(task)
        job = self.queue.enqueue_call(
            func=self.job_func,
            kwargs={"spec": {**self.spec_base, "task": raw}},
            timeout=int(timeout) + 30 if timeout else -1,
            result_ttl=3600,
            failure_ttl=7 * 86400,
            description=f"{task.activity_type} workflowId={ctx['workflowId']} runId={ctx['runId']} activityId={ctx['activityId']}",
            meta=ctx,
        )
        log.info(
            "%s task sent to rq queue %s as job %s workflowId=%s runId=%s activityId=%s",
            task.activity_type,
            self.queue.name,
            job.id,
            ctx["workflowId"],
            ctx["runId"],
            ctx["activityId"],
            extra=ctx,
        )
        return job
