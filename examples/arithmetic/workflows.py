"""The arithmetic example's workflow and domain (flowser 0.1 docs §1.1.2).

``decide`` is the body of 0.1's decider thread (see run.py), for
``flowser decider workflows:ArithmeticWorkflow``.
"""

from activities import MultiplyActivity, SumActivity
from common import auto_configured

import flowser


@auto_configured
class ArithmeticWorkflow(flowser.types.Workflow):
    """Workflow for performing arithmetics. """
    name = 'ArithmeticWorkflow'
    execution_start_to_close_timeout = '600'
    task_start_to_close_timeout = '120'
    child_policy = 'TERMINATE'

    def decide(self, task):
        op_to_activity = {
            'multiply': MultiplyActivity,
            'sum': SumActivity,
        }
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


class MathDomain(flowser.Domain):
    name = 'math'
    workflow_types = [ArithmeticWorkflow]
    activity_types = [MultiplyActivity, SumActivity]
