"""The arithmetic example's activities (flowser 0.1 docs §1.1.2).

The class attributes are the 0.1 definitions. ``run`` is what ``flowser
worker`` calls for each task (0.1 had worker threads, see run.py):

    flowser worker activities:MultiplyActivity --domain-class workflows:MathDomain
"""

from functools import reduce

from common import auto_configured

import flowser


@auto_configured
class MultiplyActivity(flowser.types.Activity):
    name = 'MultiplyActivity'
    heartbeat_timeout = '60'
    schedule_to_close_timeout = '60'
    schedule_to_start_timeout = '60'
    start_to_close_timeout = '60'

    def run(self, input):
        op = input['operation']
        return [op[0], reduce(lambda a, b: a * b, op[1])]


@auto_configured
class SumActivity(flowser.types.Activity):
    name = 'SumActivity'
    heartbeat_timeout = '60'
    schedule_to_close_timeout = '60'
    schedule_to_start_timeout = '60'
    start_to_close_timeout = '60'

    def run(self, input):
        op = input['operation']
        return [op[0], sum(op[1])]
