"""The arithmetic example of flowser 0.1's documentation, run on the embedded local SWF.

The decider and worker threads are the 0.1 docs' code as written (Python 3
only needs ``from functools import reduce``); the types are in
workflows.py / activities.py. The one change is the connection: instead of
``boto.connect_swf()``, ``backends.connect()`` -- a boto3 SWF client on the
local engine (pass ``"aws"`` for real SWF).

    python examples/arithmetic/run.py [DATA_DIR]

prints each operation's result and the execution's history.
"""

import sys
import threading
import uuid
from functools import reduce

from activities import MultiplyActivity, SumActivity
from workflows import ArithmeticWorkflow, MathDomain

import backends

domain = None  # set in main(), used by the threads as in the 0.1 docs


class ArithmeticWorkflowDecider(threading.Thread):

    def run(self):
        op_to_activity = {
            'multiply': MultiplyActivity,
            'sum': SumActivity,
        }
        for task in domain.decisions(ArithmeticWorkflow):
            is_new = len(task.filter('DecisionTaskScheduled')) == 1
            if is_new:
                # Schedule tasks from "operations" input.
                for op_id, op, input in task.start_input['operations']:
                    activity = op_to_activity[op]
                    task.schedule(activity, {
                        'id': task.start_input['id'],
                        'operation': [op_id, input],
                    })
                task.complete()
            else:
                op_ids = set([x[0] for x in task.start_input['operations']])
                results = {}
                for ev in task.filter('ActivityTaskCompleted'):
                    result = ev.attrs['result']
                    results[result[0]] = result[1]
                result_ids = set(results.keys())

                got_all = op_ids == result_ids
                if got_all:
                    # Got results for all operations. Complete workflow.
                    task.workflow_execution.complete(results)
                else:
                    task.complete()


class WorkerThread(threading.Thread):

    def run(self):
        for task in domain.activities(self.activity_class):
            self.handle_task(task)


class MultiplyWorker(WorkerThread):

    activity_class = MultiplyActivity

    def handle_task(self, task):
        op = task.input['operation']
        result = reduce(lambda a, b: a * b, op[1])
        task.complete([op[0], result])


class SumWorker(WorkerThread):

    activity_class = SumActivity

    def handle_task(self, task):
        op = task.input['operation']
        task.complete([op[0], sum(op[1])])


def describe(event):
    attrs = event.attrs
    if event.type == 'ActivityTaskScheduled':
        return f"{attrs['activityType']['name']} {attrs['activityId']} input={event.input}"
    if event.type == 'ActivityTaskCompleted':
        return f"result={event.result}"
    if event.type in ('WorkflowExecutionStarted', 'WorkflowExecutionCompleted'):
        return f"input={event.input}" if event.type == 'WorkflowExecutionStarted' else f"result={event.result}"
    return ''


def main():
    global domain
    data_dir = sys.argv[1] if len(sys.argv) > 1 else None  # default: the per-user data directory
    conn = backends.connect(data_dir=data_dir)
    try:
        domain = MathDomain(conn)
        domain.register()

        threads = [MultiplyWorker(daemon=True), SumWorker(daemon=True), ArithmeticWorkflowDecider(daemon=True)]
        for thread in threads:
            thread.start()

        arithmetic_input = {
            'id': str(uuid.uuid4()),
            'operations': [
                ['mult_id', 'multiply', [1, 2, 3]],
                ['sum_id', 'sum', [1, 2, 3, 4]],
            ],
        }
        execution = domain.start(ArithmeticWorkflow, arithmetic_input)
        print(f"started {execution.workflow_id} (run {execution.run_id})")

        history = execution.wait(timeout=120)
        print("close status:", history.close_status)
        for op_id, op, values in arithmetic_input['operations']:
            print(f"  {op_id}: {op}{values} = {history.result[op_id]}")
        print("history:")
        for event in history:
            print(f"  {event.id:>3} {event.time_stamp:%H:%M:%S.%f} {event.type:<32} {describe(event)}".rstrip())

        domain.stop_polling()      # the generators end after their current poll,
        backends.stop_polls(conn)  # which the local engine answers now
        for thread in threads:
            thread.join(timeout=5)
        return 0 if history.close_status == 'COMPLETED' else 1
    finally:
        conn.close()


if __name__ == '__main__':
    sys.exit(main())
